"""The ``Run`` context: everything a study takes from its surroundings, created once per notebook.

::

    run = Run.from_env(PROFILE, seed=SEED)     # or Run("quick", seed=0)
    S = run.profile.detector                   # the profile's sizes
    cache = run.cache("03_msep_detectors")     # resumable, content-keyed result cache
    rows = run.map(train_one, structures, key=..., cache=cache, shared={"splits": splits})
    run.savefig(fig, "03_scatter"); run.record("03_msep_ablation", claims)

It carries the profile (every size), the seed, the device (``cuda`` when a GPU is visible, else ``cpu``;
``$DETDESIGN_DEVICE`` overrides), the output folders of the profile (figures, claims, caches, checkpoints:
:mod:`detdesign.outputs`), the progress switch (``$DETDESIGN_PROGRESS=0`` turns bars off) and the population
executor (:mod:`detdesign.executor`: serial for ``smoke``, a local process cluster for ``quick``/``full``,
or an existing Dask scheduler named by ``$DETDESIGN_DASK``). Study functions take ``run`` instead of a profile
string, so a notebook stays a sequence of calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from detdesign import repro
from detdesign.executor import ExecutorConfig, Pool, executor_from_env, run_map
from detdesign.outputs import Outputs, is_checkout, output_home, outputs, warn_if_published_outside_runner
from detdesign.profiles import Profile, profile
from detdesign.progress import LOG_ENV
from detdesign.training import bf16_is_fast

DEVICE_ENV = "DETDESIGN_DEVICE"
PRECISION_ENV = "DETDESIGN_PRECISION"
DEFAULT_EXECUTOR = {"smoke": "serial", "quick": "processes", "full": "processes"}


def resolve_device(name: str | None = None) -> str:
    """``name``, else ``$DETDESIGN_DEVICE``, else ``cuda`` when available, else ``cpu``."""
    name = name or os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device {name!r} is not a torch device ({err}); use 'cpu' or 'cuda' "
                         f"(set {DEVICE_ENV})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for (via {DEVICE_ENV} or device=), but no GPU is visible; use 'cpu'")
    return str(dev)


PUBLISHED_SETTINGS = "published.json"  # in the checkout's data/: the machine-chosen settings of the published runs


def published_settings() -> dict:
    """The settings that entered the published results' content keys and that a machine would otherwise choose
    for itself (``precision``, ``channels_last``), from ``data/published.json`` of the checkout ({} outside one)."""
    import json

    from detdesign.outputs import package_checkout

    home = package_checkout()
    path = None if home is None else home / "data" / PUBLISHED_SETTINGS
    if path is None or not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("precision") not in (None, "fp32", "bf16"):
        raise ValueError(f"{path} must be a JSON object with precision 'fp32' or 'bf16'; got {data!r}")
    return data


def resolve_precision(name: str | None, device: str, profile_name: str = "quick") -> str:
    """``name``, else ``$DETDESIGN_PRECISION``, else for ``full`` the published runs' precision
    (:func:`published_settings`: so ``PROFILE=full`` replays the committed caches on any machine), else ``auto``:
    bf16 where :func:`bf16_is_fast`, fp32 elsewhere. ``DETDESIGN_PRECISION=auto`` opts a full run into this
    machine's fastest setting (new content keys: it retrains)."""
    name = name or os.environ.get(PRECISION_ENV)
    if name is None and profile_name == "full":
        name = published_settings().get("precision")
    name = name or "auto"
    if name == "auto":
        return "bf16" if bf16_is_fast(device) else "fp32"
    if name not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16' (set {PRECISION_ENV}), got {name!r}")
    return name


class SavedFigure(type(Path())):
    """The path :meth:`Run.savefig` returns: a ``Path`` that shows as ``saved figures/x.png (+ .svg)`` when it is a
    cell's last value (a published notebook shows neither ``PosixPath(...)`` nor a machine's absolute path)."""

    def __repr__(self) -> str:
        return f"saved {self.as_posix()} (+ .svg)"


@dataclass(frozen=True)
class Run:
    """A notebook's run: profile, seed, device, outputs, progress switch and population executor."""

    profile: Profile
    seed: int = 0
    device: str = "cpu"
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    show_progress: bool = True
    precision: str = "fp32"  # training/evaluation precision of the studies that opt in (see speed)
    channels_last: bool = True
    _pool: Pool = field(default_factory=Pool, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.profile, str):
            object.__setattr__(self, "profile", profile(self.profile))
        if not isinstance(self.profile, Profile):
            raise TypeError(f"profile must be a profile name or a Profile, got {type(self.profile).__name__}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise TypeError(f"seed must be an int, got {self.seed!r}")

    @classmethod
    def from_env(cls, name: str | None = None, seed: int = 0, *, device: str | None = None,
                 executor: ExecutorConfig | None = None, precision: str | None = None) -> Run:
        """The run a notebook gets: profile ``name`` (else ``$DETDESIGN_PROFILE``, else quick), device,
        precision and executor from the environment (see the module docstring)."""
        prof = profile(name)
        warn_if_published_outside_runner()
        ex = executor or executor_from_env(DEFAULT_EXECUTOR.get(prof.name, "serial"))
        show = os.environ.get("DETDESIGN_PROGRESS", "1") != "0" or bool(os.environ.get(LOG_ENV))
        dev = resolve_device(device)
        return cls(prof, seed, dev, ex, show, resolve_precision(precision, dev, prof.name))

    @property
    def speed(self) -> dict:
        """``{"precision", "channels_last"}`` of this run: the keyword arguments of a recipe factory such as
        :func:`detdesign.detection.recipe.testbed_recipe`, so one switch sets the fast path of every study."""
        return {"precision": self.precision, "channels_last": self.channels_last}

    def speed_for(self, testbed: str) -> dict:
        """The recipe keywords of a training on testbed ``testbed`` (a :data:`detdesign.data.testbed.VARIANTS`
        name). v1 and BCCD trainings keep :attr:`speed` (their published keys are fp32). Testbed v2 adopts the
        fast path: bf16 + channels_last where :func:`bf16_is_fast` (``auto``), else fp32; ``$DETDESIGN_PRECISION``
        overrides, and ``full`` uses the settings its published caches were trained with (``data/published.json``,
        key ``testbed_v2``), so a replay on a CPU without bf16 kernels still finds them."""
        if testbed == "v1":
            return self.speed
        env = os.environ.get(PRECISION_ENV)
        published = published_settings().get("testbed_v2", {}) if self.profile.name == "full" and not env else {}
        precision = published.get("precision") or resolve_precision(env or "auto", self.device)
        return {"precision": precision, "channels_last": bool(published.get("channels_last", True))}

    def describe(self) -> str:
        """Two lines: profile, seed, device, executor; where this run's outputs go."""
        ex = self.executor
        where = {"serial": "serial (in this process)", "processes": f"local Dask cluster, {ex.workers} workers",
                 "dask": f"Dask scheduler {ex.address}"}[ex.kind]
        return (f"profile {self.name} | seed {self.seed} | device {self.device} ({self.precision}"
                f"{', channels_last' if self.channels_last else ''}) | populations: {where}\n"
                f"outputs: {self.where()}")

    def where(self) -> str:
        """Where this run writes figures, ledger and caches (relative to the checkout when inside one)."""
        out, home = self.outputs, output_home()
        rel = [p.relative_to(home).as_posix() if p.is_relative_to(home) else str(p)
               for p in (out.figures, out.claims, out.cache)]
        base = "this checkout" if is_checkout(home) else str(home)
        return f"figures {rel[0]}/, ledger {rel[1]}/, caches {rel[2]}/ (in {base})"

    # -- where things go ---------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The profile's name (smoke, quick, full)."""
        return self.profile.name

    @property
    def outputs(self) -> Outputs:
        """Figure, claims, cache and checkpoint folders of this profile."""
        return outputs(self.name, self.seed)

    def cache(self, name: str, *, version: int = 1, fields=()):
        """The resumable result cache ``<cache folder>/<name>.json`` (:class:`~detdesign.results.ResultCache`).

        ``version``: the version of the code path that computes its rows (bump it when their meaning changes;
        rows of another version are recomputed). ``fields``: columns every valid row must carry (a stored row
        missing one is recomputed, never used)."""
        from detdesign.results import ResultCache

        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"a cache name is a bare file name such as '03_msep_detectors', got {name!r}: it may not "
                             "hold a path, so no cache is written outside the cache folder")
        return ResultCache(self.outputs.cache / f"{name}.json", version=version, fields=fields)

    @property
    def seed_noise(self):
        """The project's seed-noise table of this profile (:class:`~detdesign.seed_noise.SeedNoiseTable`, in the
        cache folder): notebooks add their seed groups and read the pooled seed SD of an instrument."""
        from detdesign.seed_noise import SeedNoiseTable

        return SeedNoiseTable(self.outputs.cache / "seed_noise.csv")

    def checkpoints(self, name: str) -> Path:
        """The checkpoint folder of one study (never committed)."""
        return self.outputs.checkpoints / name

    def savefig(self, fig, name: str) -> SavedFigure:
        """Save ``fig`` as PNG + SVG under this profile's figure folder (:func:`detdesign.plotting.savefig`); the PNG's
        path relative to the output home when inside it (a published notebook shows no machine's path)."""
        from detdesign.plotting import savefig

        png = savefig(fig, name, self.name, self.seed)
        home = output_home()
        return SavedFigure(png.relative_to(home) if png.is_relative_to(home) else png)

    def record(self, notebook: str, rows: list):
        """Write the notebook's ledger rows (:func:`detdesign.claims.record`) and return the table."""
        from detdesign.claims import record

        return record(notebook, rows, self.name, self.seed)

    # -- computing ---------------------------------------------------------------------------------------------
    def setup(self, threads: int | None = None) -> torch.Generator:
        """Deterministic kernels, a fixed thread count and every RNG seeded with ``seed``."""
        return repro.setup(self.seed, threads)

    def map(self, fn: Callable, items: Iterable, *, key: Callable | None = None, cache=None,
            shared: dict | None = None, desc: str = "jobs") -> list:
        """``fn(item, **shared)`` for every item through the executor (:func:`detdesign.executor.run_map`)."""
        return run_map(fn, items, cfg=self.executor, pool=self._pool, key=key, cache=cache, shared=shared,
                       desc=desc, show_progress=self.show_progress)

    def close(self) -> None:
        """Shut down a local cluster or disconnect from a scheduler (also on ``with Run(...)`` exit)."""
        self._pool.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
