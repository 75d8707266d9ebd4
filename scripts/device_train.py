"""Fill a notebook's result caches on another machine (a lent GPU), without Jupyter.

A full-profile notebook resumes from its content-keyed caches, so its expensive cells can run wherever a GPU is and
the notebook then runs on any machine, reading them. This script executes a notebook's code cells as plain Python,
in order, up to and including the first cell that contains ``--until`` (the training call), so the jobs and their
keys are exactly the notebook's. It needs the library, torch, pycocotools and the notebook's data (IPython is
optional: a stand-in ``display`` / ``Markdown`` is used where it is missing).

Precision and memory format are part of every job's key: ``DETDESIGN_PRECISION=fp32`` produces the rows that a
CPU run of the notebook (fp32, channels_last) reads; without it a GPU run trains in bf16 under other keys.

    DETDESIGN_PRECISION=fp32 DETDESIGN_DASK=serial DETDESIGN_PROFILE=full \\
        python scripts/device_train.py notebooks/04_compound_scaling.ipynb --until "effdet.train_all"
    python scripts/device_train.py notebooks/04_compound_scaling.ipynb --from "grid.points" \\
        --until "grid.train"     # only the scaling grid's section

Every finished job is written to the cache at once (atomically), so a run stopped by a time limit keeps it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ipython_stand_in() -> None:
    """``IPython.display`` with ``display`` and ``Markdown`` that print, when IPython is not installed."""
    try:
        import IPython.display  # noqa: F401
    except ImportError:
        mod = types.ModuleType("IPython.display")
        mod.display = lambda *objs: [print(o) for o in objs]
        mod.Markdown = str
        sys.modules["IPython"] = types.ModuleType("IPython")
        sys.modules["IPython.display"] = mod


def _index(cells: list[str], marker: str, notebook: Path) -> int:
    for i, src in enumerate(cells):
        if marker in src:
            return i
    raise ValueError(f"no code cell of {notebook} contains {marker!r}; pass a string from one of its cells")


def cells_until(notebook: Path, marker: str, start: str | None = None, setup: int = 2) -> list[str]:
    """Code cells of ``notebook`` up to and including the first that contains ``marker``; with ``start``, only
    the first ``setup`` code cells (parameters and set-up) and then the cells from the one containing ``start``
    (a later section whose jobs do not depend on the cells skipped). ValueError when a marker is not found."""
    cells = ["".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    end = _index(cells, marker, notebook) + 1
    if start is None:
        return cells[:end]
    first = _index(cells, start, notebook)
    if not setup <= first < end:
        raise ValueError(f"--from {start!r} must name a cell after the {setup} set-up cells and not after --until")
    return cells[:setup] + cells[first:end]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--until", required=True, help="a string of the last cell to run (the training call)")
    ap.add_argument("--from", dest="start", help="run the set-up cells, then from the cell containing this string")
    ap.add_argument("--setup", type=int, default=2, help="leading code cells always run (parameters, set-up)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "lib"))
    _ipython_stand_in()
    from IPython.display import display

    scope = {"__name__": "__main__", "display": display}
    t0 = time.perf_counter()
    for i, src in enumerate(cells_until(args.notebook, args.until, args.start, args.setup)):
        print(f"--- cell {i} ({time.perf_counter() - t0:.0f} s)", flush=True)
        exec(compile(src, f"{args.notebook.name}[{i}]", "exec"), scope)
    print(f"done in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
