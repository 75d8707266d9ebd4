"""Root conftest: nbval collects only the published notebooks (notebooks/published.txt), so a notebook of one's own
saved in notebooks/ is never run as if it were published."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"


def pytest_ignore_collect(collection_path, config):
    path = Path(collection_path)
    if path.suffix != ".ipynb" or path.parent != NOTEBOOKS:
        return None
    from detdesign.outputs import published_notebooks

    return path not in published_notebooks(NOTEBOOKS)
