"""Run every notebook in notebooks/ in order with papermill (`make reproduce [PROFILE=...]`).

The profile reaches each kernel through the DETDESIGN_PROFILE environment variable (not an injected
parameters cell), so the committed notebooks stay clean. PROFILE=full replaces the published notebooks
(each is executed into a temporary file and moved into place only when it finished, so an interrupted run
leaves the published notebook untouched); every other profile writes executed copies under
runs/<profile>/notebooks/. The profile is --profile, else $DETDESIGN_PROFILE, else quick.
Wall times go to runs/<profile>/timings.csv. While a notebook runs, papermill's cell bar (with an estimate) and
the latest line of the studies' own progress bars (training epochs, population jobs; sent to
runs/<profile>/progress.log through DETDESIGN_PROGRESS_LOG, never into the notebook) are printed.
"""

import argparse
import csv
import os
import sys
import tempfile
import threading
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


class ProgressEcho(threading.Thread):
    """Print the newest progress line the kernel (and its workers) wrote to ``log``, every ``every`` seconds."""

    def __init__(self, log: Path, prefix: str, every: float = 30.0):
        super().__init__(daemon=True)
        self.log, self.prefix, self.every, self.stop = log, prefix, every, threading.Event()
        self.log.write_text("")

    def run(self) -> None:
        last = ""
        while not self.stop.wait(self.every):
            text = self.log.read_text(errors="replace").replace("\r", "\n")
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines and lines[-1] != last:
                last = lines[-1]
                print(f"{self.prefix} {last}", flush=True)


def print_ledger(profile: str, runs: Path) -> None:
    """What this run measured: its own ledger (not the published one), one line per claim."""
    from detdesign.claims import load_all
    from detdesign.outputs import outputs

    folder = outputs(profile).claims
    ledger = load_all(folder)
    if ledger.empty:
        return
    print(f"[{profile}] this run's ledger ({folder}):")
    for r in ledger.itertuples():
        measured = r.we_measured if len(r.we_measured) <= 70 else r.we_measured[:67] + "..."
        print(f"  {r.claim_id:<24} {r.holds:<13} {measured}")
    counts = ledger["holds"].value_counts()
    print(f"[{profile}] verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default=os.environ.get("DETDESIGN_PROFILE", "quick"), choices=profile_names(),
                    help="default: $DETDESIGN_PROFILE, else quick (the one rule the notebooks follow too)")
    ap.add_argument("--only", default="", help="run only notebooks whose name starts with this prefix")
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="folder of the notebooks to run")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs", help="folder for non-full outputs and timings")
    ap.add_argument("--record-times", action="store_true",
                    help="write this run's times into data/timings.csv (quiet machine only; see detdesign.timings)")
    ap.add_argument("--fresh", action="store_true",
                    help="with --record-times: the full caches were empty, so a lower full time may replace one")
    ap.add_argument("--no-cell-bar", dest="cell_bar", action="store_false",
                    help="hide papermill's per-cell progress bar (stderr)")
    args = ap.parse_args()
    if args.profile not in profile_names():  # argparse checks choices only for a value given on the command line
        ap.error(f"profile {args.profile!r} (from $DETDESIGN_PROFILE) is not one of {', '.join(profile_names())}")
    from detdesign.outputs import RUNNER_ENV, published_notebooks

    notebooks = [p for p in published_notebooks(args.notebooks) if p.name.startswith(args.only)]
    if not notebooks:
        print(f"no notebook matches {args.only!r}", file=sys.stderr)
        return 2
    log = args.runs / args.profile / "progress.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    os.environ.update({RUNNER_ENV: "run_notebooks"})  # the kernels know a sanctioned run executes them
    os.environ.update(DETDESIGN_PROFILE=args.profile, DETDESIGN_PROGRESS="0", DETDESIGN_PROGRESS_LOG=str(log),
                      DETDESIGN_WIDGETS="0")  # sliders draw one static figure in stored notebooks
    from detdesign.outputs import output_home

    # kernels run in the notebooks' folder: give them the runner's output home so every output of this run (and
    # the ledger printed at the end) lands where the user started it
    os.environ.setdefault("DETDESIGN_HOME", str(output_home()))
    os.environ.pop("MPLBACKEND", None)  # the kernel must use the inline backend so figures are stored
    out_dir = args.notebooks if args.profile == "full" else args.runs / args.profile / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    times = []
    for nb in notebooks:
        out = out_dir / nb.name
        t0 = time.perf_counter()
        print(f"[{args.profile}] {nb.name} ...", flush=True)
        # a unique temporary name (two runs never share it); a killed run never leaves a half-executed notebook
        fd, name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".running.ipynb", dir=out.parent)
        os.close(fd)
        tmp = Path(name)
        echo = ProgressEcho(log, f"[{args.profile}] {nb.stem}:")
        echo.start()
        try:
            pm.execute_notebook(str(nb), str(tmp), kernel_name="python3", cwd=str(args.notebooks),
                                progress_bar=args.cell_bar)
            clean(tmp)
            os.replace(tmp, out)
        except Exception:
            failed = args.runs / args.profile / "failed" / nb.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            if tmp.exists() and tmp.stat().st_size:
                os.replace(tmp, failed)  # the executed copy, error included, to inspect
                print(f"[{args.profile}] {nb.name} FAILED: the executed copy is {failed}", file=sys.stderr)
            raise
        finally:
            echo.stop.set()
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
    print_ledger(args.profile, args.runs)
    if args.record_times:
        import datetime
        import platform

        from detdesign.timings import record_times

        machine = f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
        stamp = datetime.date.today().isoformat()
        record_times([{"notebook": Path(n).stem, "profile": args.profile, "seconds": round(t, 1), "measured": stamp,
                       "machine": machine, "note": ""} for n, t in times], fresh=args.fresh)
        print(f"[{args.profile}] times recorded in data/timings.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
