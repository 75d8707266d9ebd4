"""Regression tests for the defects the adversarial audit found (the reliability issue): each failed before."""

import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from detdesign.atomic import atomic_path

REPO = Path(__file__).resolve().parents[1]


def test_an_archive_member_that_escapes_after_the_prefix_is_stripped_writes_nothing(tmp_path):
    from detdesign.data.download import extract_subtree

    outside = tmp_path / "outside.txt"
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("BCCD_Dataset-x/BCCD/ok.txt", b"fine")
        zf.writestr(f"BCCD_Dataset-x/BCCD//{outside.as_posix().lstrip('/')}", b"evil")  # passes the name check
    target = tmp_path / "target"
    target.mkdir()
    with zipfile.ZipFile(path) as zf, pytest.raises(ValueError, match="outside"):
        extract_subtree(zf, "BCCD_Dataset-x/BCCD/", target)
    assert not outside.exists() and not any(target.iterdir())  # refused before anything was written


def test_a_savefig_killed_midway_leaves_the_published_figure_whole(tmp_path, monkeypatch, isolated_outputs):
    from detdesign import plotting

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png = plotting.savefig(fig, "f", "full")
    before = png.read_bytes()
    real = type(fig).savefig

    def dies(self, fname, **kw):
        Path(fname).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(fig), "savefig", dies)
    with pytest.raises(KeyboardInterrupt):
        plotting.savefig(fig, "f", "full")
    monkeypatch.setattr(type(fig), "savefig", real)
    assert png.read_bytes() == before
    assert not list(png.parent.glob(".*tmp*"))
    plt.close(fig)


def test_two_writers_of_one_file_never_share_a_temporary_name(tmp_path):
    target, names, errors = tmp_path / "scenes.npz", [], []

    def write(value):
        try:
            with atomic_path(target, ".npz") as tmp:
                names.append(tmp.name)
                np.savez(tmp, x=np.full(1000, value))
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=write, args=(v,)) for v in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(set(names)) == 4
    with np.load(target) as f:
        assert f["x"][0] in range(4) and (f["x"] == f["x"][0]).all()


def test_training_stops_on_a_non_finite_loss_naming_epoch_and_step(root, tmp_path):
    from detdesign.data.scenes import SceneConfig, load_scenes
    from detdesign.data.testbed import DISTINCT4, TestbedVariant
    from detdesign.detection import TrainConfig, build_detector, train
    from detdesign.detection.recipe import testbed_detector as variant_detector

    v = TestbedVariant("t", SceneConfig(canvas=64, min_size=8, max_size=40, objects=(1, 2), classes=DISTINCT4))
    data = load_scenes("train", 4, v.scenes)
    model = build_detector(variant_detector(v))
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match=r"loss is nan at epoch 1, step 1"):
        train(model, data, TrainConfig(epochs=1, batch_size=2, warmup_iters=1))


def test_a_non_finite_bccd_box_names_its_file(tmp_path):
    from detdesign.data.bccd import parse_annotation

    xml = tmp_path / "a.xml"
    xml.write_text("<annotation><filename>a.jpg</filename><size><width>640</width><height>480</height></size>"
                   "<object><name>RBC</name><bndbox><xmin>nan</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax>"
                   "</bndbox></object></annotation>")
    with pytest.raises(ValueError, match=r"a\.xml.*non-finite box"):
        parse_annotation(xml, 1, tmp_path)


def test_an_incomplete_cifar_copy_names_the_missing_class():
    from detdesign.data.cifar import _check_counts

    labels = np.repeat(np.arange(10), 1000)
    _check_counts(labels, "test", "copy")  # complete: no error
    with pytest.raises(ValueError, match=r"'cat': 0"):
        _check_counts(labels[labels != 3], "test", "copy")
    with pytest.raises(ValueError, match=r"'airplane': 999"):
        _check_counts(labels[1:], "test", "copy")
    with pytest.warns(UserWarning, match="subset copy"):
        _check_counts(np.repeat(np.arange(10), 2), "test", "copy")


@pytest.mark.parametrize(("var", "value", "message"), [
    ("DETDESIGN_WORKERS", "0", "DETDESIGN_WORKERS=0 must lie in 1.."),
    ("DETDESIGN_WORKERS", "500", "DETDESIGN_WORKERS=500 must lie in 1.."),
    ("DETDESIGN_WORKERS", "two", "DETDESIGN_WORKERS='two' must be a whole number"),
    ("DETDESIGN_THREADS", "x", "DETDESIGN_THREADS='x' must be a whole number"),
    ("DETDESIGN_THREADS", "0", "DETDESIGN_THREADS=0 must be >= 1"),
])
def test_a_bad_environment_variable_is_named_in_one_line(monkeypatch, var, value, message):
    from detdesign import Run, repro

    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=message):
        Run.from_env("smoke").setup() if var == "DETDESIGN_WORKERS" else repro.deterministic()


def test_a_bogus_profile_from_the_environment_is_refused_before_anything_runs(tmp_path):
    env = {"DETDESIGN_PROFILE": "bogus", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "run_notebooks.py"), "--runs", str(tmp_path / "runs")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "'bogus'" in r.stderr and "DETDESIGN_PROFILE" in r.stderr
    assert not (tmp_path / "runs" / "bogus").exists()


def _threads(item):
    return torch.get_num_threads()


def test_serial_and_cluster_jobs_get_the_same_threads_by_default(monkeypatch):
    from detdesign.executor import ExecutorConfig, job_threads, run_map

    monkeypatch.delenv("DETDESIGN_JOB_THREADS", raising=False)
    assert job_threads(ExecutorConfig("serial")) == job_threads(ExecutorConfig("processes")) == 1
    torch.set_num_threads(2)
    assert run_map(_threads, [0, 1], cfg=ExecutorConfig("serial"), show_progress=False) == [1, 1]
    assert torch.get_num_threads() == 2  # the notebook's own setting is restored after the jobs
    monkeypatch.setenv("DETDESIGN_JOB_THREADS", "2")
    assert job_threads(ExecutorConfig("processes")) == 2 and job_threads(ExecutorConfig("serial", threads=3)) == 3
    monkeypatch.setenv("DETDESIGN_JOB_THREADS", "0")
    with pytest.raises(ValueError, match="DETDESIGN_JOB_THREADS=0"):
        job_threads(ExecutorConfig())


@pytest.mark.parametrize(("bad", "why"), [
    ('"false"', "str, expected bool"), ("null", "null, expected bool"), ("NaN", "invalid"),
    ("Infinity", "invalid"), ('{"a": 1}', "invalid"), ("1", "number, expected bool"),
])
def test_a_cached_value_of_the_wrong_kind_is_recomputed_never_used(tmp_path, bad, why):
    from detdesign.results import ResultCache

    path = tmp_path / "c.json"
    rows = ", ".join(f'"r{i}": {{"overflow": true, "x": {i}.5}}' for i in range(3))
    path.write_text(f'{{{rows}, "bad": {{"overflow": {bad}, "x": 0.5}}}}')
    cache = ResultCache(path, fields=("overflow",))
    with pytest.warns(UserWarning, match=why):
        assert cache.get("bad") is None
    assert sorted(cache) == ["r0", "r1", "r2"]
    assert cache.get_or_compute("bad", lambda: {"overflow": False, "x": 1.0}) == {"overflow": False, "x": 1.0}


def test_a_row_whose_recorded_version_disagrees_with_its_key_is_not_used(tmp_path):
    from detdesign.results import ResultCache

    path = tmp_path / "c.json"
    path.write_text('{"k": {"x": 1, "_version": 2}, "j": {"x": 2, "_version": 1}}')
    with pytest.warns(UserWarning, match="_version=2"):
        assert ResultCache(path).get("k") is None
    assert ResultCache(path).get("j") == {"x": 2}


@pytest.mark.parametrize("damage", ["epoch", "nan"])
def test_a_checkpoint_that_cannot_be_this_training_is_refused(root, tmp_path, damage):
    from detdesign.data.scenes import SceneConfig, load_scenes
    from detdesign.detection import DetectorConfig, TrainConfig, build_detector, train

    data = load_scenes("train", 4, SceneConfig(canvas=64, min_size=8, max_size=40, objects=(1, 2)))
    cfg, tcfg = DetectorConfig(image_size=64, num_classes=10), TrainConfig(epochs=1, batch_size=2, warmup_iters=1)
    train(build_detector(cfg), data, tcfg, ckpt_dir=tmp_path)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    if damage == "epoch":
        state["epoch"] = 99
    else:
        next(iter(state["model"].values())).fill_(float("nan"))
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="epoch 99|non-finite weights"):
        train(build_detector(cfg), data, tcfg, ckpt_dir=tmp_path)


def test_a_cache_name_with_a_path_and_a_nan_budget_are_refused():
    from detdesign import Run
    from detdesign.search.space import Budget

    for name in ("../../x", "a/b", ".hidden", ""):
        with pytest.raises(ValueError, match="bare file name"):
            Run("smoke").cache(name)
    with pytest.raises(ValueError, match="positive finite"):
        Budget(macs=float("nan"))


def test_unclear_errors_now_say_what_was_wrong(tmp_path):
    from detdesign.arch.tinynas_format import parse_tinynas
    from detdesign.arch.zen_net import ZenNet
    from detdesign.atomic import read_npz
    from detdesign.results import ResultCache

    with pytest.raises(ValueError, match="Python literal"):
        parse_tinynas("{'best_structures': [")
    with pytest.raises(ValueError, match="non-empty list"):
        parse_tinynas("{'best_structures': []}")
    with pytest.raises(TypeError, match="NoneType"):
        ZenNet(None)
    with pytest.raises(ValueError, match="blocks"):
        ZenNet("SuperConvK3BNRELU(3,8,1,1)" + "SuperConvK3BNRELU(8,8,1,1)" * 1001)
    bad = tmp_path / "c.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="not UTF-8"):
        ResultCache(bad)
    npz = tmp_path / "x.npz"
    np.savez(npz, a=np.arange(100))
    npz.write_bytes(npz.read_bytes()[:50])
    with pytest.warns(UserWarning, match="damaged"):
        assert read_npz(npz) is None
    assert not npz.exists()


def test_a_nan_routing_threshold_is_refused():
    from detdesign.dynamic.model import DynamicDetector

    with pytest.raises(ValueError, match="finite number"):
        DynamicDetector.predict(None, torch.zeros(1, 3, 8, 8), threshold=float("nan"))


def test_a_run_s_own_outputs_do_not_mark_the_commit_dirty(tmp_path):
    from detdesign.repro import _git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "lib").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "lib" / "a.py").write_text("x = 1\n")
    (tmp_path / "data" / "c.json").write_text("{}\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "init")
    (tmp_path / "data" / "c.json").write_text('{"k": {}}\n')  # a result the run wrote
    assert not _git_commit(tmp_path).endswith("+dirty")
    (tmp_path / "lib" / "a.py").write_text("x = 2\n")  # a change to the code that ran
    assert _git_commit(tmp_path).endswith("+dirty")


@pytest.mark.parametrize(("var", "kind"), [("DETDESIGN_CACHE", "file"), ("DETDESIGN_HOME", "file"),
                                            ("DETDESIGN_PROGRESS_LOG", "dir")])
def test_an_unusable_path_variable_is_named(tmp_path, monkeypatch, var, kind):
    from detdesign.data.root import default_cache_dir
    from detdesign.outputs import output_home
    from detdesign.progress import progress

    target = tmp_path / "x"
    target.write_text("") if kind == "file" else target.mkdir()
    monkeypatch.setenv(var, str(target))
    call = {"DETDESIGN_CACHE": default_cache_dir, "DETDESIGN_HOME": output_home,
            "DETDESIGN_PROGRESS_LOG": lambda: progress(range(2))}[var]
    with pytest.raises(ValueError, match=var):
        call()


def test_a_search_refuses_an_infinite_start_score():
    from detdesign.search.evolution import SearchConfig, evolve
    from detdesign.search.space import Budget

    with pytest.raises(ValueError, match="finite start"):
        evolve("SuperConvK3BNRELU(3,8,1,1)", lambda s: float("inf"), Budget(), SearchConfig(iterations=1))
