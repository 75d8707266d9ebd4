"""Working copies for `make lab`: JupyterLab autosaves every open notebook, so the published notebooks in
notebooks/ (full-profile outputs, the repository's results) are never opened for editing. Instead each is copied
once into runs/lab/ (ignored by git); an existing copy, with the user's edits and outputs, is never overwritten
(delete it to start again from the published one). Copies and published notebooks are signed as trusted for
this user's Jupyter (their outputs were produced by this repository's code), so the lab renders them as they are.
"""

import argparse
import shutil
import sys
from pathlib import Path

import nbformat
from nbformat.sign import NotebookNotary

ROOT = Path(__file__).resolve().parents[1]


def working_copies(published: Path, lab: Path) -> list[Path]:
    """Copy every ``published/*.ipynb`` into ``lab`` unless a copy exists; sign both as trusted; return copies."""
    lab.mkdir(parents=True, exist_ok=True)
    notary = NotebookNotary()
    copies = []
    for nb in sorted(published.glob("*.ipynb")):
        copy = lab / nb.name
        if not copy.exists():
            shutil.copy2(nb, copy)
            copy.chmod(0o644)
        for path in (nb, copy):
            notary.sign(nbformat.read(path, as_version=4))
        copies.append(copy)
    return copies


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--published", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--lab", type=Path, default=ROOT / "runs" / "lab")
    args = ap.parse_args()
    copies = working_copies(args.published, args.lab)
    print(f"JupyterLab opens {len(copies)} working copies in {args.lab} (your edits stay there; the published "
          f"notebooks in {args.published} are never autosaved over; delete a copy to refresh it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
