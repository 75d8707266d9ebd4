"""Populations of independent jobs on one entry point: serial, local processes, or a Dask cluster.

Scoring NAS-Bench-201 cells, training a population of detectors or classifiers and scoring search candidates
are all maps of a pure function over items. :func:`run_map` runs such a map through one of three backends,
chosen by :class:`ExecutorConfig` (normally from the environment, see :func:`executor_from_env`):

``serial``
    in this process, in item order (the smoke profile and the tests);
``processes``
    a ``dask.distributed.LocalCluster`` of worker processes on this machine (``DETDESIGN_DASK=local``);
``dask``
    an existing Dask scheduler (``DETDESIGN_DASK=tcp://host:8786``), e.g. started with the ``dask`` CLI.

Guarantees, on every backend:

- each job's result is written to the caller's :class:`~detdesign.results.ResultCache` under the job's
  *content key* as soon as it finishes (in the calling process: one writer), so a run that is interrupted,
  loses a worker, or is split across machines resumes and loses no finished job;
- a job never sees its position in the queue: seeds must come from the job's content
  (:func:`detdesign.results.seed_for`), so serial, process and Dask runs give identical results;
- every job runs with the same number of torch threads whatever the executor (:func:`job_threads`: 1 unless
  ``ExecutorConfig.threads`` or ``$DETDESIGN_JOB_THREADS`` says otherwise), set inside the job, so a serial run
  and a cluster run give identical numbers by default (threaded reductions change the last digits, and a
  training amplifies them), and one worker's thread count never leaks into another's numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from detdesign.progress import progress

DASK_ENV = "DETDESIGN_DASK"
WORKERS_ENV = "DETDESIGN_WORKERS"
JOB_THREADS_ENV = "DETDESIGN_JOB_THREADS"
KINDS = ("serial", "processes", "dask")


@dataclass(frozen=True)
class ExecutorConfig:
    """Which backend runs populations: ``kind`` in :data:`KINDS`; ``address`` of a scheduler for ``dask``.

    ``workers``: worker processes of a local cluster; ``threads``: torch threads per job (``None``:
    :func:`job_threads`, the same for every kind).
    """

    kind: str = "serial"
    address: str | None = None
    workers: int = 2
    threads: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"executor kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "dask" and not (self.address or "").startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ValueError(f"a Dask executor needs a scheduler address such as tcp://host:8786 (set {DASK_ENV}), "
                             f"got {self.address!r}")
        if self.workers < 1 or (self.threads is not None and self.threads < 1):
            raise ValueError(f"workers and threads must be >= 1, got {self.workers}, {self.threads}")


def _workers_from_env() -> int:
    """``$DETDESIGN_WORKERS`` (default: one per core, at most 8), checked: an integer from 1 to 4x the cores."""
    cores = os.cpu_count() or 1
    raw = os.environ.get(WORKERS_ENV)
    if raw is None or not raw.strip():
        return max(1, min(cores, 8))
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{WORKERS_ENV}={raw!r} must be a whole number of workers, e.g. {WORKERS_ENV}=2") from None
    if not 1 <= n <= 4 * cores:
        raise ValueError(f"{WORKERS_ENV}={n} must lie in 1..{4 * cores} on this machine ({cores} cores): each "
                         "worker runs one job and its torch threads; unset it for one worker per core")
    return n


def executor_from_env(default: str = "serial") -> ExecutorConfig:
    """``$DETDESIGN_DASK``: unset -> ``default``; ``serial``; ``local`` -> a LocalCluster; ``tcp://...`` -> Dask.

    ``$DETDESIGN_WORKERS`` sets the local cluster's worker count (default: one per core, at most 8).
    """
    value = os.environ.get(DASK_ENV, "").strip()
    workers = _workers_from_env()
    kind = value or default
    if kind == "local":
        kind = "processes"
    if kind in ("serial", "processes"):
        return ExecutorConfig(kind, None, workers)
    if "://" in kind:
        return ExecutorConfig("dask", kind, workers)
    raise ValueError(f"{DASK_ENV}={value!r} is not understood: use 'serial', 'local' or a scheduler address "
                     "such as tcp://host:8786")


class Pool:
    """The live Dask client of an :class:`ExecutorConfig`, created on first use and closed by :meth:`close`."""

    def __init__(self):
        self.client = None
        self.cluster = None

    def get(self, cfg: ExecutorConfig):
        if self.client is not None:
            return self.client
        from dask.distributed import Client, LocalCluster

        if cfg.kind == "processes":
            import dask

            # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker; setting it at all switches off glibc's
            # dynamic mmap threshold, so every large tensor is mmap'd and unmapped again: measured here, one
            # training step of a CIFAR ZenNet took 2.93 s with it and 0.91 s without (half the CPU in page faults).
            # Unset, the workers allocate as the calling process does (numbers unchanged, only the time).
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                self.cluster = LocalCluster(n_workers=cfg.workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(cfg.address, timeout=10)
            except (OSError, TimeoutError) as err:
                raise ConnectionError(f"no Dask scheduler answered at {cfg.address} (from {DASK_ENV}): {err}; start "
                                      f"one with `dask scheduler` and `dask worker {cfg.address}`, or unset "
                                      f"{DASK_ENV}") from None
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None


def job_threads(cfg: ExecutorConfig) -> int:
    """The torch threads of every job of ``cfg``: ``cfg.threads``, else ``$DETDESIGN_JOB_THREADS``, else 1 -- never
    the executor's own choice, so serial and cluster runs of a population compute identical numbers. (A serial run
    of a few long jobs on an idle machine may set ``DETDESIGN_JOB_THREADS=2``: faster, last digits may differ.)"""
    if cfg.threads is not None:
        return cfg.threads
    raw = os.environ.get(JOB_THREADS_ENV, "").strip()
    if not raw:
        return 1
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{JOB_THREADS_ENV}={raw!r} must be a whole number of threads, e.g. 1") from None
    if n < 1:
        raise ValueError(f"{JOB_THREADS_ENV}={n} must be >= 1")
    return n


def _job(fn: Callable, item, threads: int, shared: dict):
    """One job as a worker runs it: fixed torch threads (restored afterwards in a serial run), then
    ``fn(item, **shared)``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(item, **shared)
    finally:
        torch.set_num_threads(before)


def _estimate(done: dict, n_todo: int) -> str:
    """", about N min (the median train_seconds of the cached rows)" when they record it and work remains."""
    import statistics

    secs = [r["train_seconds"] for r in done.values() if isinstance(r, dict)
            and isinstance(r.get("train_seconds"), (int, float)) and r["train_seconds"] > 0]
    if not n_todo or not secs:
        return ""
    return (f", about {n_todo * statistics.median(secs) / 60:.0f} min of work at the cached jobs' median "
            f"{statistics.median(secs) / 60:.1f} min each")


def run_map(fn: Callable, items: Iterable, *, cfg: ExecutorConfig, pool: Pool | None = None,
            key: Callable | None = None, cache=None, shared: dict | None = None, desc: str = "jobs",
            show_progress: bool = True) -> list:
    """``[fn(item, **shared) for item in items]`` on the backend of ``cfg``, results in item order.

    ``key(item) -> str`` names each job's content; with ``cache`` (a ``ResultCache``; ``fn`` must then return a
    dict) finished keys are read back and not recomputed, and each new result is stored as it arrives.
    ``shared``: large read-only arguments (data splits) sent to each worker once.
    """
    items = list(items)
    shared = dict(shared or {})
    if cache is not None and key is None:
        raise ValueError("run_map(cache=...) needs key=: the cache stores each result under its job's content key")
    keys = [key(it) if key is not None else str(i) for i, it in enumerate(items)]
    done = {k: cache.get(k) for k in keys if cache is not None and k in cache}
    todo = {}
    for k, it in zip(keys, items):
        if k not in done and k not in todo:
            todo[k] = it
    if cache is not None and show_progress:  # a replay says so; a run that will train says how much
        print(f"{desc}: {len(set(keys)) - len(todo)} of {len(set(keys))} cached, {len(todo)} to compute"
              + _estimate(done, len(todo)))
    bar = progress(total=len(todo), desc=desc, leave=False, disable=not show_progress)

    def store(k, result):
        if cache is not None:
            cache.put(k, result)
            result = cache.get(k)
        done[k] = result
        bar.update(1)

    if cfg.kind == "serial" or len(todo) == 0:
        for k, it in todo.items():
            store(k, _job(fn, it, job_threads(cfg), shared))
    else:
        _dask_map(fn, todo, cfg, pool or Pool(), shared, store)
    bar.close()
    return [done[k] for k in keys]


def _scatter(client, shared: dict) -> dict:
    """One future per shared value, broadcast to every worker. Each value is scattered inside a one-element list:
    ``client.scatter`` of a bare dict (the detection splits) would return a dict of futures, one per key, which the
    lost-worker check below cannot read (it did crash a resumed run of notebook 03 that way). ``hash=False`` gives
    every scatter a fresh key: with Dask's default content-hashed key, a re-scatter of the same value (after a lost
    worker, or by the next ``run_map``) reuses the key of futures that are being released, and the scheduler can
    forget the new data with the old ("already forgotten"; it failed CI once that way)."""
    return {name: client.scatter([value], broadcast=True, hash=False)[0] for name, value in shared.items()}


def _dask_map(fn, todo: dict, cfg: ExecutorConfig, pool: Pool, shared: dict, store, retries: int = 3) -> None:
    """Submit every job, store results as they complete; a job whose worker died (the future is cancelled or
    the scheduler gives up on it) is resubmitted up to ``retries`` times, so a lost worker costs only its jobs;
    shared data lost with it ("lost dependencies") is scattered again first."""
    from dask.distributed import as_completed

    client = pool.get(cfg)
    threads = job_threads(cfg)
    remote = _scatter(client, shared)

    def submit(it):
        return client.submit(_job, fn, it, threads, remote, pure=False)

    futures = {submit(it): k for k, it in todo.items()}
    tries = dict.fromkeys(todo, 0)
    ac = as_completed(futures)
    try:
        for fut in ac:
            k = futures[fut]
            try:
                result = fut.result()
            except Exception as err:
                lost = type(err).__name__ in ("FutureCancelledError", "CancelledError", "KilledWorker")
                if not lost or tries[k] >= retries:
                    raise
                tries[k] += 1
                if any(f.status != "finished" for f in remote.values()):  # the shared data died with the worker
                    remote.update(_scatter(client, shared))
                new = submit(todo[k])
                futures[new] = k
                ac.add(new)
                continue
            store(k, result)
    finally:
        for fut in futures:
            fut.cancel()
