"""Run every notebook in notebooks/ in order with papermill (`make reproduce [PROFILE=...]`).

The profile reaches each kernel through the DETDESIGN_PROFILE environment variable (not an injected
parameters cell), so the committed notebooks stay clean. PROFILE=full replaces the published notebooks
(each is executed into a temporary file and moved into place only when it finished, so an interrupted run
leaves the published notebook untouched); every other profile writes executed copies under
runs/<profile>/notebooks/. The profile is --profile, else $DETDESIGN_PROFILE, else quick.
Wall times go to runs/<profile>/timings.csv.
"""

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm

from detdesign.profiles import profile_names

ROOT = Path(__file__).resolve().parents[1]


def kernel_display_name(name: str = "python3") -> str:
    """The installed kernel's display name (ipykernel: "Python 3 (ipykernel)"), so that JupyterLab does not mark
    a published notebook modified when it opens it."""
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        return KernelSpecManager().get_kernel_spec(name).display_name
    except Exception:  # no kernelspec installed: the ipykernel default
        return "Python 3 (ipykernel)"


def clean(path: Path) -> None:
    """Drop papermill's timestamps and durations so that reruns diff only where results changed."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {"display_name": kernel_display_name(), "language": "python", "name": "python3"}
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default=os.environ.get("DETDESIGN_PROFILE", "quick"), choices=profile_names(),
                    help="default: $DETDESIGN_PROFILE, else quick (the one rule the notebooks follow too)")
    ap.add_argument("--only", default="", help="run only notebooks whose name starts with this prefix")
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder of the notebooks to run")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs", help="folder for non-full outputs and timings")
    args = ap.parse_args()
    notebooks = sorted(p for p in args.notebooks.glob("[0-9]*.ipynb") if p.name.startswith(args.only))
    if not notebooks:
        print(f"no notebook matches {args.only!r}", file=sys.stderr)
        return 2
    os.environ.update(DETDESIGN_PROFILE=args.profile, DETDESIGN_PROGRESS="0")
    os.environ.pop("MPLBACKEND", None)  # the kernel must use the inline backend so figures are stored
    out_dir = args.notebooks if args.profile == "full" else args.runs / args.profile / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    times = []
    for nb in notebooks:
        out = out_dir / nb.name
        t0 = time.perf_counter()
        print(f"[{args.profile}] {nb.name} ...", flush=True)
        tmp = out.with_name(f".{out.stem}.running.ipynb")  # a killed run never leaves a half-executed notebook
        try:
            pm.execute_notebook(str(nb), str(tmp), kernel_name="python3", cwd=str(args.notebooks),
                                progress_bar=False)
            clean(tmp)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        times.append((nb.name, time.perf_counter() - t0))
        print(f"[{args.profile}] {nb.name} done in {times[-1][1]:.1f} s", flush=True)
    total = sum(t for _, t in times)
    timing_file = args.runs / args.profile / "timings.csv"
    timing_file.parent.mkdir(parents=True, exist_ok=True)
    with open(timing_file, "w", newline="") as fh:
        csv.writer(fh).writerows([("notebook", "seconds"), *[(n, f"{t:.1f}") for n, t in times],
                                  ("total", f"{total:.1f}")])
    print(f"[{args.profile}] all notebooks: {total:.1f} s (see {timing_file})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
