"""Regression tests of the reliability pass: what a kill, a stale cache, a hostile archive or timing noise can
and cannot do to published results (README, "Reliability")."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from detdesign.claims import Claim, timing_outcome
from detdesign.data import download_wanted
from detdesign.data.bccd import BCCD_COMMIT, download_bccd, load_bccd
from detdesign.data.download import ChecksumError, safe_members, sha256_file, tree_digest
from detdesign.results import ResultCache
from detdesign.stats import ratio_of_medians

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "scripts" / "run_notebooks.py"


# ---------------------------------------------------------------- the notebook runner
def _notebook(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(source))])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    path = folder / name
    nbformat.write(nb, path)
    return path


def _runner(*args, env=None, **kw):
    env = {**os.environ, **(env or {})}
    return subprocess.Popen([sys.executable, str(RUNNER), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def test_killing_a_full_run_leaves_the_published_notebook_untouched(tmp_path):
    nbs = tmp_path / "notebooks"
    published = _notebook(nbs, "01_slow.ipynb", "import time\nprint('started', flush=True)\ntime.sleep(120)")
    before = published.read_bytes()
    proc = _runner("--profile", "full", "--notebooks", str(nbs), "--runs", str(tmp_path / "runs"))
    deadline = time.time() + 90
    while not list(nbs.glob(".01_slow.*.running.ipynb")) and time.time() < deadline:  # a unique temporary name
        time.sleep(0.5)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert list(nbs.glob(".01_slow.*.running.ipynb")), "the runner never started the notebook"
    assert published.read_bytes() == before  # a kill damages only the hidden, git-ignored working file
    assert ".*.running.ipynb" in (REPO / ".gitignore").read_text()


def test_the_runner_takes_its_profile_from_the_environment(tmp_path):
    nbs = tmp_path / "notebooks"
    _notebook(nbs, "01_env.ipynb", "import os\nprint('profile=' + os.environ['DETDESIGN_PROFILE'])")
    proc = _runner("--notebooks", str(nbs), "--runs", str(tmp_path / "runs"), env={"DETDESIGN_PROFILE": "smoke"})
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    executed = tmp_path / "runs" / "smoke" / "notebooks" / "01_env.ipynb"
    assert "profile=smoke" in executed.read_text()
    assert (tmp_path / "runs" / "smoke" / "timings.csv").is_file()


# ---------------------------------------------------------------- the result cache
def test_a_cache_row_missing_a_field_is_recomputed_never_used(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"a": {"overflow": True}, "b": {"overflow": False, "logphi": 1.0}}))
    cache = ResultCache(path, fields=("overflow", "logphi"))
    with pytest.warns(UserWarning, match="lacks \\['logphi'\\]"):
        assert "a" not in cache
    assert list(cache) == ["b"] and len(cache) == 1
    row = cache.get_or_compute("a", lambda: {"overflow": False, "logphi": 2.0})
    assert row == {"overflow": False, "logphi": 2.0}
    with pytest.raises(ValueError, match="lacks the fields"):
        cache.put("c", {"overflow": True})


def test_a_bumped_code_version_recomputes_and_version_one_keeps_published_keys(tmp_path):
    path = tmp_path / "c.json"
    ResultCache(path).put("k", {"x": 1})
    # version 1 = the plain keys of published caches; each new row records the version that wrote it
    assert json.loads(path.read_text()) == {"k": {"x": 1, "_version": 1}}
    v2 = ResultCache(path, version=2)
    assert "k" not in v2 and len(v2) == 0
    assert v2.get_or_compute("k", lambda: {"x": 2}) == {"x": 2}
    assert ResultCache(path).get("k") == {"x": 1} and ResultCache(path, version=2).get("k") == {"x": 2}
    with pytest.raises(ValueError, match="version"):
        ResultCache(path, version=0)


def test_a_damaged_cache_file_names_itself_and_the_fix(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"k": {"x": 1')
    with pytest.raises(ValueError, match=f"{path}.*delete it"):
        ResultCache(path)
    path.write_text('{"k": 3}')
    with pytest.raises(ValueError, match="JSON object of rows"):
        ResultCache(path)


_WRITER = """
import sys
from detdesign.results import ResultCache
path, tag = sys.argv[1], sys.argv[2]
for i in range(40):
    ResultCache(path).put(f"{tag}{i}", {"i": i})
"""


def test_two_processes_writing_one_cache_lose_nothing(tmp_path):
    path = tmp_path / "shared.json"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag]) for tag in "ab"]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert len(ResultCache(path)) == 80


# ---------------------------------------------------------------- downloads
def _bccd_zip(root: Path, out: Path, tamper: bool = False, prefix: str | None = None) -> str:
    prefix = prefix if prefix is not None else f"BCCD_Dataset-{BCCD_COMMIT}/"
    src = root / "bccd"
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.name != "LICENSE")
    victim = next(p for p in files if p.suffix == ".xml") if tamper else None  # one label changed
    with zipfile.ZipFile(out, "w") as zf:
        for p in files:
            data = p.read_bytes().replace(b"RBC", b"WBC", 1) if p == victim else p.read_bytes()
            zf.writestr(prefix + "BCCD/" + p.relative_to(src).as_posix(), data)
        zf.writestr(prefix + "LICENSE", (src / "LICENSE").read_bytes())
    return out.as_uri()


def test_bccd_download_is_pinned_verified_and_installed_whole(root, tmp_path):
    assert BCCD_COMMIT in __import__("detdesign.data.bccd", fromlist=["x"]).DOWNLOAD_URL  # a commit, not a branch
    url = _bccd_zip(root, tmp_path / "good.zip")
    target = download_bccd(tmp_path / "data", url=url)
    assert tree_digest(target, exclude=("LICENSE",)) == tree_digest(root / "bccd", exclude=("LICENSE",))
    assert len(load_bccd("test", root=tmp_path / "data")) == 72
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["bccd"]  # no staging folder left behind


def test_a_tampered_or_misshapen_bccd_archive_installs_nothing(root, tmp_path):
    data = tmp_path / "data"
    with pytest.raises(ChecksumError, match="differs from the pinned"):
        download_bccd(data, url=_bccd_zip(root, tmp_path / "bad.zip", tamper=True))
    with pytest.raises(ValueError, match="unexpected layout"):
        download_bccd(data, url=_bccd_zip(root, tmp_path / "flat.zip", prefix=""))
    assert not (data / "bccd").exists() and [p for p in data.iterdir()] == []


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/etc/evil", "C:/evil.txt"])
def test_archive_members_that_escape_are_refused(tmp_path, name):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/file.txt", b"fine")
        zf.writestr(name, b"evil")
    with zipfile.ZipFile(path) as zf, pytest.raises(ValueError, match="escape"):
        safe_members(zf)


def test_a_zip_link_member_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    info = zipfile.ZipInfo("BCCD_Dataset-x/BCCD/link")
    info.external_attr = (0o120777 << 16)  # a symlink entry
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with zipfile.ZipFile(path) as zf, pytest.raises(ValueError, match="link"):
        safe_members(zf)


# ---------------------------------------------------------------- checkpoints and timing
def test_a_corrupted_checkpoint_names_its_file(root, tmp_path):
    from detdesign.detection import DetectorConfig, Preprocessed, TrainConfig, build_detector, preprocess, train

    pre = preprocess(load_bccd("train"), 128)
    data = Preprocessed(pre.images[:3], pre.targets[:3], pre.records[:3], 128)
    (tmp_path / "last.pt").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=f"{tmp_path / 'last.pt'}.*delete it"):
        train(build_detector(DetectorConfig(image_size=128)), data, TrainConfig(epochs=1, batch_size=3),
              ckpt_dir=tmp_path)


def test_fit_keeps_the_time_of_a_segment_that_was_killed(root, tmp_path, monkeypatch):
    """The wall time of every finished epoch is in the checkpoint, so a kill loses at most the running epoch."""
    import detdesign.detection.training as tr
    from detdesign.detection import DetectorConfig, Preprocessed, TrainConfig, fit, preprocess

    pre = preprocess(load_bccd("train"), 128)
    data = Preprocessed(pre.images[:3], pre.targets[:3], pre.records[:3], 128)
    cfg = TrainConfig(epochs=2, batch_size=3, warmup_iters=1, max_iters_per_epoch=1)
    real_save = tr._save

    def save_then_die(path, state):
        real_save(path, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(DetectorConfig(image_size=128), cfg, data, tmp_path)
    monkeypatch.setattr(tr, "_save", real_save)
    (ckpt,) = tmp_path.glob("*/last.pt")
    first = __import__("torch").load(ckpt, weights_only=True)["seconds"]
    assert first > 0
    done = fit(DetectorConfig(image_size=128), cfg, data, tmp_path)
    assert done.seconds > first  # both segments counted
    again = fit(DetectorConfig(image_size=128), cfg, data, tmp_path)
    assert again.seconds == done.seconds  # loading a finished run adds no time


def test_a_timing_claim_within_its_noise_is_inconclusive():
    noisy_a, noisy_b = [1.00, 1.30, 0.90, 1.20, 1.10], [1.05, 1.25, 0.95, 1.15, 1.00]
    ratio, lo, hi = ratio_of_medians(noisy_a, noisy_b)
    assert lo < ratio < hi and lo < 1.0 < hi
    assert timing_outcome(lo, hi, 1.0) == "inconclusive"
    fast, slow = [1.0, 1.01, 0.99, 1.02], [2.0, 2.02, 1.98, 2.01]
    _, lo, hi = ratio_of_medians(fast, slow)
    assert timing_outcome(lo, hi, 1.0) == "yes" and timing_outcome(lo, hi, 0.4) == "no"
    assert ratio_of_medians(fast, slow, seed=3) == ratio_of_medians(fast, slow, seed=3)
    assert Claim("x", "p", "s", "m", "inconclusive", timing=True).row()["timing"] is True


def test_train_overhead_reports_the_interval_its_claim_decides_on(root):
    """The 00b overhead claim decides on ``ratio_lo``/``ratio_hi``: repeats are kept and bracket the ratio."""
    from detdesign.detection import DetectorConfig, Preprocessed, preprocess
    from detdesign.detection.bench import train_overhead

    pre = preprocess(load_bccd("train"), 64)
    data = Preprocessed(pre.images[:4], pre.targets[:4], pre.records[:4], 64)
    r = train_overhead(DetectorConfig(image_size=64), data, batch_size=2, steps=3)
    assert len(r["full_samples"]) == len(r["bare_samples"]) == 3
    assert r["ratio_lo"] <= r["ratio"] <= r["ratio_hi"]
    assert timing_outcome(r["ratio_lo"], r["ratio_hi"], r["ratio"]) == "inconclusive" or r["ratio_lo"] == r["ratio_hi"]


def test_an_impossible_overhead_ratio_is_a_failed_measurement(root, monkeypatch):
    """A full step faster than its own forward+backward (a busy machine) is flagged, never a result."""
    import detdesign.detection.bench as bench
    from detdesign.detection import DetectorConfig, Preprocessed, preprocess

    ticks = iter(range(10_000))
    calls = {"n": 0}

    def clock():  # the bare pass "takes" 10 ticks, the full step 1: ratio 0.1
        calls["n"] += 1
        return float(next(ticks)) * (10 if calls["n"] % 4 in (1, 2) else 1)

    pre = preprocess(load_bccd("train"), 64)
    data = Preprocessed(pre.images[:4], pre.targets[:4], pre.records[:4], 64)
    monkeypatch.setattr(bench.time, "perf_counter", clock)
    r = bench.train_overhead(DetectorConfig(image_size=64), data, batch_size=2, steps=2)
    assert r["ratio"] < bench.MIN_PLAUSIBLE_RATIO and r["valid"] is False


def test_digest_helpers_are_plain_sha256(tmp_path):
    (tmp_path / "t" / "d").mkdir(parents=True)
    (tmp_path / "t" / "d" / "a").write_bytes(b"x")
    line = f"d/a\t{hashlib.sha256(b'x').hexdigest()}"
    assert tree_digest(tmp_path / "t") == hashlib.sha256(line.encode()).hexdigest()


def _nb201_mirror(root: Path, mirror: Path, monkeypatch) -> None:
    """A file:// mirror of the three pinned NB201 files, built from the offline copies. The 12-epoch table is
    published as a pandas pickle; the mirror holds a pickle of the offline CSV, pinned by its own SHA-256."""
    import pandas as pd

    from detdesign.data import nb201_download as nd

    for name in ("nats_bench", "naslib_zc"):
        src = nd.SOURCES[name]
        dest = mirror / src.url[len(nd._RAW) + 1:]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((root / src.relpath).read_bytes())
    mini = nd.SOURCES["mini_12epoch"]
    dest = mirror / mini.url[len(nd._RAW) + 1:]
    dest.parent.mkdir(parents=True, exist_ok=True)
    pd.read_csv(root / mini.relpath, index_col=0).to_pickle(dest)
    monkeypatch.setitem(nd.SOURCES, "mini_12epoch", nd.Source(mini.relpath, mini.url, sha256_file(dest),
                                                              mini.csv_sha256))


def test_nb201_tables_download_pinned_and_verified(root, tmp_path, monkeypatch):
    from detdesign.data import load_naslib_zc, load_nb201
    from detdesign.data import nb201_download as nd

    assert all(len(s.url.split("/")[5]) == 40 for s in nd.SOURCES.values())  # commits, never branches
    mirror = tmp_path / "mirror"
    _nb201_mirror(root, mirror, monkeypatch)
    data = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match="DETDESIGN_DOWNLOAD=1"):
        load_nb201(data)  # nothing is downloaded silently
    for name, src in list(nd.SOURCES.items()):  # the loaders download from the mirror
        monkeypatch.setitem(nd.SOURCES, name, nd.Source(src.relpath, mirror.as_uri() + src.url[len(nd._RAW):],
                                                        src.sha256, src.csv_sha256))
    monkeypatch.setenv("DETDESIGN_DOWNLOAD", "1")  # the one switch a notebook user sets
    got = load_nb201(data)
    assert got.equals(load_nb201(root))
    assert load_naslib_zc("cifar10", data).equals(load_naslib_zc("cifar10", root))
    for src in nd.SOURCES.values():  # the installed files are the offline copies, byte for byte
        assert sha256_file(data / src.relpath) == sha256_file(root / src.relpath)
    assert sorted(p.name for p in (data / "nasbench201").iterdir()) == sorted(
        Path(s.relpath).name for s in nd.SOURCES.values())  # no staging or partial file left


def test_a_tampered_nb201_download_installs_nothing(root, tmp_path, monkeypatch):
    from detdesign.data import download_nb201
    from detdesign.data import nb201_download as nd

    mirror = tmp_path / "mirror"
    _nb201_mirror(root, mirror, monkeypatch)
    victim = mirror / nd.SOURCES["nats_bench"].url[len(nd._RAW) + 1:]
    victim.write_bytes(victim.read_bytes().replace(b"94.373", b"99.999", 1))
    with pytest.raises(ChecksumError, match="differs from the pinned"):
        download_nb201(tmp_path / "data", names=("nats_bench",), base_url=mirror.as_uri())
    assert not list((tmp_path / "data" / "nasbench201").iterdir())
    with pytest.raises(ValueError, match="valid names"):
        download_nb201(tmp_path / "data", names=("nb101",))
    monkeypatch.setenv("DETDESIGN_DOWNLOAD", "maybe")
    with pytest.raises(ValueError, match="DETDESIGN_DOWNLOAD='maybe'"):
        download_wanted()
    with pytest.raises(TypeError, match="download must be"):
        download_wanted("yes")


def test_a_user_outside_the_checkout_runs_notebook_01_without_any_data(tmp_path):
    """A fresh user: no data root with datasets, no DETDESIGN_HOME, working in their own folder. Notebook 01 needs
    no dataset; its outputs go to ./detdesign-runs in that folder, never into the installed checkout."""
    work = tmp_path / "analysis"
    nbs = work / "notebooks"
    nbs.mkdir(parents=True)
    (nbs / "01_bn_rescaling.ipynb").write_bytes((REPO / "notebooks" / "01_bn_rescaling.ipynb").read_bytes())
    (tmp_path / "empty").mkdir()
    published = REPO / "runs" / "smoke" / "claims" / "01_bn_rescaling.csv"
    stamp = published.stat().st_mtime if published.exists() else None
    env = {k: v for k, v in os.environ.items() if k != "DETDESIGN_HOME"}
    env.update(DETDESIGN_DATA=str(tmp_path / "empty"), DETDESIGN_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, str(RUNNER), "--profile", "smoke", "--only", "01", "--no-cell-bar",
                           "--notebooks", str(nbs), "--runs", str(work / "runs")], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    outputs = work / "detdesign-runs" / "runs" / "smoke"  # where the user started the run
    assert (outputs / "claims" / "01_bn_rescaling.csv").is_file() and list((outputs / "figures").glob("01_*.png"))
    assert (work / "runs" / "smoke" / "notebooks" / "01_bn_rescaling.ipynb").is_file()
    assert (published.stat().st_mtime if published.exists() else None) == stamp
    assert "this run's ledger" in proc.stdout and "01-overflow" in proc.stdout
