import json
from pathlib import Path

import pytest

from detdesign.data import data_root

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"
DATA_ROOT = data_root()  # resolved once, before any test redirects DETDESIGN_HOME


@pytest.fixture(autouse=True)
def isolated_outputs(tmp_path, monkeypatch):
    """Every test writes figures/claims/caches under a temporary DETDESIGN_HOME, never into the repo."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "pyproject.toml").write_text('[project]\nname = "detdesign"\n')
    monkeypatch.setenv("DETDESIGN_HOME", str(home))
    monkeypatch.setenv("DETDESIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DETDESIGN_DATA", str(DATA_ROOT))
    return home


@pytest.fixture(scope="session")
def root():
    """The real data root (the offline copies); tests fail, not skip, when it is missing."""
    path = DATA_ROOT
    assert (path / "bccd").is_dir(), f"data root {path} has no bccd/; set DETDESIGN_DATA"
    return path


@pytest.fixture(scope="session")
def zen_reference():
    path = REFERENCE / "zennet_structures.json"
    assert path.is_file(), f"missing ZenNAS test vectors {path}"
    return json.loads(path.read_text())["structures"]
