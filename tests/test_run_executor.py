"""The Run context and the population executor: serial and Dask give identical results, resume, fail clearly."""

import os
import signal
import sys
import time
from pathlib import Path

import cloudpickle
import pytest
import torch

from detdesign import Run
from detdesign.arch.nb201_net import NB201Net
from detdesign.executor import ExecutorConfig, Pool, _scatter, executor_from_env, run_map
from detdesign.proxies import compute
from detdesign.results import ResultCache, content_key, seed_for

PROXIES = ("snip", "naswot", "synflow")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import this test module


def score(arch, data, marker=None):
    """A population job: three proxies on one NB201 cell (module level, so workers can import it). ``data`` is a
    dict, like the detection splits that the populations share (a dict is the case that broke a resumed run)."""
    if marker is not None and arch == data["victim"] and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-run, once
    net = NB201Net(arch, num_classes=10, C=8, N=1)
    return {p: compute(p, net, resolution=16, batch_size=8, seed=seed_for(arch, base=42),
                       data=(data["x"], data["y"])).value
            for p in PROXIES}


@pytest.fixture(scope="module")
def population(root):
    from detdesign.data import load_nb201

    archs = list(load_nb201()["arch"].iloc[:6])
    g = torch.Generator().manual_seed(0)
    return archs, {"x": torch.randn(8, 3, 16, 16, generator=g), "y": torch.randint(0, 10, (8,), generator=g),
                   "victim": archs[3]}


def test_dask_local_cluster_equals_serial_bit_for_bit_and_resumes_after_a_killed_worker(population, tmp_path):
    archs, data = population
    serial = run_map(score, archs, cfg=ExecutorConfig("serial", threads=1), shared={"data": data},
                     show_progress=False)
    cache = ResultCache(tmp_path / "pop.json")
    cache.put(archs[0], serial[0])  # a result finished by an earlier, interrupted run
    pool = Pool()
    try:
        dask = run_map(score, archs, cfg=ExecutorConfig("processes", workers=2), pool=pool, key=str, cache=cache,
                       shared={"data": data, "marker": str(tmp_path / "killed")}, show_progress=False)
        env = pool.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        remote = _scatter(pool.client, {"data": data})  # one future per shared value, even for a dict
        assert remote["data"].status == "finished" and remote["data"].result()["victim"] == archs[3]
    finally:
        pool.close()
    assert set(env.values()) == {None}  # Dask's default (65536) made training 3x slower (executor.Pool.get)
    assert (tmp_path / "killed").exists()  # a worker really died during the run
    assert dask == serial
    assert set(ResultCache(tmp_path / "pop.json")) == set(archs)  # every finished job is on disk


def test_cache_is_keyed_by_content_not_order(population, tmp_path):
    archs, data = population
    cache = ResultCache(tmp_path / "c.json")
    calls = []

    def job(a, data):
        calls.append(a)
        return score(a, data)

    first = run_map(job, archs[:3], cfg=ExecutorConfig(), key=str, cache=cache, shared={"data": data},
                    show_progress=False)
    again = run_map(job, list(reversed(archs[:4])), cfg=ExecutorConfig(), key=str, cache=cache,
                    shared={"data": data}, show_progress=False)
    assert calls == archs[:4] and again[::-1][:3] == first


def test_bad_scheduler_address_names_the_variable(monkeypatch):
    monkeypatch.setenv("DETDESIGN_DASK", "tcp://127.0.0.1:1")
    cfg = executor_from_env()
    with pytest.raises(ConnectionError, match="DETDESIGN_DASK") as err:
        Pool().get(cfg)
    assert "\n" not in str(err.value)
    monkeypatch.setenv("DETDESIGN_DASK", "nonsense")
    with pytest.raises(ValueError, match="DETDESIGN_DASK"):
        executor_from_env()


def test_seeds_come_from_content():
    assert seed_for("a", base=1) == seed_for("a", base=1) != seed_for("b", base=1)
    assert content_key("x", 1) == content_key("x", 1) != content_key("x", 2)


def test_run_context_routes_outputs_and_validates(monkeypatch, tmp_path):
    run = Run("smoke", seed=3)
    assert run.executor.kind == "serial" and run.name == "smoke" and "seed 3" in run.describe()
    assert run.cache("x").path == run.outputs.cache / "x.json"
    assert run.checkpoints("00b").parent == run.outputs.checkpoints
    assert run.map(lambda i, k: i * k, [1, 2, 3], shared={"k": 2}) == [2, 4, 6]
    monkeypatch.setenv("DETDESIGN_DEVICE", "cpu")
    assert Run.from_env("smoke").device == "cpu"
    monkeypatch.setenv("DETDESIGN_DEVICE", "tpu9")
    with pytest.raises(ValueError, match="DETDESIGN_DEVICE"):
        Run.from_env("smoke")
    with pytest.raises(TypeError, match="seed"):
        Run("smoke", seed="0")
    with pytest.raises(ValueError, match="unknown profile"):
        Run("huge")


def test_progress_goes_to_the_log_file_not_the_notebook(monkeypatch, tmp_path, capsys):
    """`make reproduce` shows loop progress: with DETDESIGN_PROGRESS_LOG every bar writes plain lines to that file
    (even with DETDESIGN_PROGRESS=0) and nothing to the notebook's stderr; the runner echoes the newest line."""
    import importlib.util

    from detdesign.progress import progress

    log = tmp_path / "progress.log"
    monkeypatch.setenv("DETDESIGN_PROGRESS", "0")
    monkeypatch.setenv("DETDESIGN_PROGRESS_LOG", str(log))
    assert Run.from_env("smoke").show_progress
    for _ in progress(range(7), desc="training", mininterval=0):
        pass
    assert "training" in log.read_text() and "7/7" in log.read_text()
    assert capsys.readouterr().err == ""
    spec = importlib.util.spec_from_file_location("runner", Path(__file__).parents[1] / "scripts" / "run_notebooks.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    echo = runner.ProgressEcho(tmp_path / "echo.log", "[smoke] 01:", every=0.05)
    echo.start()
    (tmp_path / "echo.log").write_text("jobs:  10%|#  | 1/10\rjobs:  20%|## | 2/10")
    time.sleep(0.5)
    echo.stop.set()
    echo.join()
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "[smoke] 01: jobs:  20%|## | 2/10"
    quiet = runner.ProgressEcho(tmp_path / "quiet.log", "[smoke] 05:", every=0.05, heartbeat=0.1)
    quiet.start()
    time.sleep(0.4)
    quiet.stop.set()
    quiet.join()
    assert "[smoke] 05: still running" in capsys.readouterr().out  # no progress line: a heartbeat instead
