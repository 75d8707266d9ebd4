"""House rules for the published notebooks (nbval re-runs them; this checks how they are stored)."""

import json
import re
from pathlib import Path

import pytest

from detdesign.outputs import published_notebooks

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = published_notebooks(REPO / "notebooks")


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert names[:4] == ["00_tour.ipynb", "00b_detector.ipynb", "00c_testbed.ipynb", "01_bn_rescaling.ipynb"], names
    assert all(re.fullmatch(r"\d\d[a-z]?_[a-z0-9_]+\.ipynb", n) for n in names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_published_clean(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    from jupyter_client.kernelspec import KernelSpecManager  # JupyterLab marks a notebook modified otherwise

    assert nb["metadata"]["kernelspec"]["display_name"] == KernelSpecManager().get_kernel_spec("python3").display_name
    assert "papermill" not in nb["metadata"], "papermill metadata must be stripped"
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown", "opens with the paper's idea in Markdown"
    assert "$" in "".join(first["source"]), "with its equations in LaTeX"
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert "parameters" in code[0]["metadata"].get("tags", []), "first code cell is the parameters cell"
    params = "".join(code[0]["source"])
    assert "PROFILE" in params and "SEED" in params and "DETDESIGN_PROFILE" in params
    assert all(c["execution_count"] for c in code), "published notebooks are executed"
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    for c in code:
        src = "".join(c["source"])
        assert len(src.splitlines()) <= 40 and "\nclass " not in "\n" + src, "logic belongs in lib/"
    last_code = "".join(code[-1]["source"])
    assert "assert" in last_code and "P.assert_claims" in last_code, "ends by asserting the claim"
    assert any("run.record(" in "".join(c["source"]) for c in code), "writes its claims-ledger rows"
    assert any("Run.from_env(" in "".join(c["source"]) for c in code), "runs on the Run context"
    assert nb["cells"][-1]["cell_type"] == "markdown", "ends with what we found"
    assert (REPO / "data" / "claims" / f"{path.stem}.csv").is_file(), "full-profile ledger rows committed"


def test_make_lab_opens_trusted_working_copies_and_never_overwrites_edits(tmp_path, monkeypatch):
    """`make lab` must not let autosave overwrite the published notebooks: it opens copies under runs/lab."""
    import importlib.util
    import shutil

    import nbformat
    from nbformat.sign import NotebookNotary

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jdata"))  # the trust database of this test only
    spec = importlib.util.spec_from_file_location("lab", REPO / "scripts" / "lab_copies.py")
    lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab)
    published = tmp_path / "published"
    published.mkdir()
    shutil.copy(REPO / "notebooks" / "00_tour.ipynb", published)
    copies = lab.working_copies(published, tmp_path / "lab")
    assert [c.name for c in copies] == ["00_tour.ipynb"]
    notary = NotebookNotary()
    assert notary.check_signature(nbformat.read(copies[0], as_version=4))
    nb = nbformat.read(copies[0], as_version=4)
    nb.cells[0].source += "\n\nmy own note"  # a user's edit
    nbformat.write(nb, copies[0])
    edited = copies[0].read_text()
    assert "my own note" in edited
    lab.working_copies(published, tmp_path / "lab")
    assert copies[0].read_text() == edited
    make = (REPO / "Makefile").read_text()
    assert "--notebook-dir=runs/lab" in make and "--notebook-dir=notebooks" not in make


def _output_text(nb: dict) -> str:
    parts = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            parts.append("".join(o.get("text", "")))
            for v in o.get("data", {}).values():
                parts.append("".join(v) if isinstance(v, list) else str(v))
    return "\n".join(parts)


def _numbers(text: str) -> set[str]:
    """Decimal numerals of a text (``0.45``, ``-3.6``), signs and thousands separators dropped."""
    return {m.lstrip("+-−").replace(",", "") for m in re.findall(r"[-+−]?\d[\d,]*\.\d+", text)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_what_we_found_quotes_only_numbers_the_run_printed(path):
    """A measured number in the closing "What we found" text must be one the notebook's own outputs contain (the
    generated summary prints them), or one stated earlier in the notebook's text (a paper's number): a hand-typed
    result goes stale when a rerun changes it."""
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    at = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
               and re.search(r"^#+ What we found", "".join(c["source"]), re.M)), None)
    assert at is not None, "the notebook closes with a 'What we found' section"
    found = "".join(cells[at]["source"])
    earlier = "\n".join("".join(c["source"]) for c in cells[:at] if c["cell_type"] == "markdown")
    known = _numbers(_output_text(nb)) | _numbers(earlier)
    missing = sorted(_numbers(found) - known)
    assert not missing, f"{path.name}: 'What we found' states numbers no output shows: {missing}"


def test_the_lab_replays_the_published_caches_without_writing_the_published_folders(tmp_path, monkeypatch):
    """`make lab` kernels run `full` with DETDESIGN_LAB=1: outputs go under runs/lab/full, whose result caches are
    seeded from data/cache (committed rows win, the lab's own rows stay), so Run All replays in seconds."""
    import importlib.util
    import json

    from detdesign.outputs import outputs

    spec = importlib.util.spec_from_file_location("lab", REPO / "scripts" / "lab_copies.py")
    lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab)
    published, cache = tmp_path / "data_cache", tmp_path / "lab_cache"
    published.mkdir()
    (published / "05_x.json").write_text(json.dumps({"k1": {"AP": 0.5}, "k2": {"AP": 0.6}}))
    (published / "seed_noise.csv").write_text("instrument,group\n")
    cache.mkdir()
    (cache / "05_x.json").write_text(json.dumps({"k1": {"AP": 0.1}, "mine": {"AP": 0.9}}))
    assert lab.seed_caches(published, cache) == 2
    assert json.loads((cache / "05_x.json").read_text()) == {"k1": {"AP": 0.5}, "k2": {"AP": 0.6},
                                                            "mine": {"AP": 0.9}}
    assert (cache / "seed_noise.csv").read_text() == "instrument,group\n"
    monkeypatch.setenv("DETDESIGN_HOME", str(REPO))
    monkeypatch.delenv("DETDESIGN_LAB", raising=False)
    assert outputs("full").cache == REPO / "data" / "cache"
    monkeypatch.setenv("DETDESIGN_LAB", "1")
    out = outputs("full")
    assert out.cache == REPO / "runs" / "lab" / "full" / "cache" and out.figures.parent == out.cache.parent
    assert out.claims != REPO / "data" / "claims" and out.checkpoints == REPO / "runs" / "full" / "checkpoints"
    make = (REPO / "Makefile").read_text()
    assert "DETDESIGN_LAB=1 DETDESIGN_PROFILE=full" in make


def test_the_published_set_is_the_manifest_not_a_glob(tmp_path, monkeypatch):
    """A notebook of one's own in notebooks/ is not taken for a published one (runner, site, lab, nbval, tour);
    executing a published notebook there outside the runner warns."""
    from detdesign.outputs import RUNNER_ENV, published_notebooks, warn_if_published_outside_runner

    listed = [p.name for p in published_notebooks(REPO / "notebooks")]
    assert listed == sorted(p.name for p in (REPO / "notebooks").glob("[0-9]*.ipynb") if p.name in listed)
    assert "00_tour.ipynb" in listed and len(listed) == len(set(listed))
    folder = tmp_path / "checkout" / "notebooks"
    folder.mkdir(parents=True)
    (folder.parent / "pyproject.toml").write_text('[project]\nname = "detdesign"\n')
    for name in ("01_a.ipynb", "01_a_mine.ipynb"):
        (folder / name).write_text("{}")
    (folder / "published.txt").write_text("# the published notebooks\n01_a.ipynb\n")
    assert published_notebooks(folder) == [folder / "01_a.ipynb"]
    (folder / "published.txt").write_text("01_a.ipynb\n02_gone.ipynb\n")
    with pytest.raises(ValueError, match="02_gone"):
        published_notebooks(folder)
    monkeypatch.delenv(RUNNER_ENV, raising=False)
    monkeypatch.delenv("DETDESIGN_LAB", raising=False)
    with pytest.warns(UserWarning, match="make lab"):
        assert warn_if_published_outside_runner(folder)
    assert warn_if_published_outside_runner(tmp_path) is None  # not the checkout's notebooks/
    monkeypatch.setenv(RUNNER_ENV, "run_notebooks")
    assert warn_if_published_outside_runner(folder) is None
    conftest = (REPO / "conftest.py").read_text()
    assert "pytest_ignore_collect" in conftest and "published_notebooks" in conftest


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_published_outputs_do_not_leak_the_build_machine(path):
    """No absolute path of the checkout, no PosixPath(...) reprs, no home folder in a published notebook's outputs
    (run.savefig shows "saved figures/x.png"; data roots and outputs print relative paths)."""
    text = _output_text(json.loads(path.read_text()))
    leaks = [s for s in ("PosixPath(", str(REPO), "/root/", "/home/") if s in text]
    assert leaks == [], f"{path.name} outputs contain {leaks}"
