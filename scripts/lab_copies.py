"""Working copies for `make lab`: JupyterLab autosaves every open notebook, so the published notebooks in
notebooks/ (full-profile outputs, the repository's results) are never opened for editing. Instead each is copied
once into runs/lab/ (ignored by git); an existing copy, with the user's edits and outputs, is never overwritten
(delete it to start again from the published one). Copies and published notebooks are signed as trusted for
this user's Jupyter (their outputs were produced by this repository's code), so the lab renders them as they are.

The lab's kernels run the ``full`` profile with ``DETDESIGN_LAB=1`` (see :mod:`detdesign.outputs`): Run All replays
the published results from runs/lab/full/cache/, which this script seeds with the committed data/cache/ rows
(a committed row replaces a lab row of the same key; the lab's own new rows are kept), and writes its figures and
ledger under runs/lab/full/. Running ``quick`` in the lab is a deliberate choice: set ``PROFILE = "quick"`` in
the notebook's parameters cell.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import nbformat
from nbformat.sign import NotebookNotary

from detdesign.atomic import atomic_path
from detdesign.outputs import published_notebooks

ROOT = Path(__file__).resolve().parents[1]


def working_copies(published: Path, lab: Path) -> list[Path]:
    """Copy every ``published/*.ipynb`` into ``lab`` unless a copy exists; sign both as trusted; return copies."""
    lab.mkdir(parents=True, exist_ok=True)
    notary = NotebookNotary()
    copies = []
    for nb in published_notebooks(published):
        copy = lab / nb.name
        if not copy.exists():
            shutil.copy2(nb, copy)
            copy.chmod(0o644)
        for path in (nb, copy):
            notary.sign(nbformat.read(path, as_version=4))
        copies.append(copy)
    return copies


def seed_caches(published: Path, lab: Path) -> int:
    """Merge every committed result cache ``published/*.json`` into ``lab`` (committed rows win; rows only the lab
    has are kept); return the number of rows the lab caches hold from the committed ones."""
    lab.mkdir(parents=True, exist_ok=True)
    n = 0
    for src in sorted(published.glob("*.json")):
        rows = json.loads(src.read_text() or "{}")
        dst = lab / src.name
        mine = json.loads(dst.read_text() or "{}") if dst.exists() else {}
        with atomic_path(dst) as tmp:
            tmp.write_text(json.dumps({**mine, **rows}, sort_keys=True))
        n += len(rows)
    for src in sorted(published.glob("*.csv")):  # the seed-noise table: a replay adds the same groups again
        shutil.copy2(src, lab / src.name)
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--published", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--lab", type=Path, default=ROOT / "runs" / "lab")
    args = ap.parse_args()
    copies = working_copies(args.published, args.lab)
    rows = seed_caches(ROOT / "data" / "cache", args.lab / "full" / "cache")
    print(f"JupyterLab opens {len(copies)} working copies in {args.lab} (your edits stay there; the published "
          f"notebooks in {args.published} are never autosaved over; delete a copy to refresh it). Their kernels "
          f"replay the published results (profile full, {rows} cached rows in {args.lab / 'full' / 'cache'}); "
          f"set PROFILE = \"quick\" in a notebook's parameters cell to run the quick profile instead.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
