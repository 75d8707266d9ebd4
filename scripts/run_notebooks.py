"""Run every published notebook (notebooks/published.txt) in order with papermill (`make reproduce [PROFILE=...]`).

The profile reaches each kernel through the DETDESIGN_PROFILE environment variable (not an injected
parameters cell), so the committed notebooks stay clean. PROFILE=full replaces the published notebooks
(each is executed into a temporary file and moved into place only when it finished, so an interrupted run
leaves the published notebook untouched); every other profile writes executed copies under
runs/<profile>/notebooks/. The profile is --profile, else $DETDESIGN_PROFILE, else quick.
Wall times go to runs/<profile>/timings.csv. While a notebook runs, papermill's cell bar (with an estimate) and
the latest line of the studies' own progress bars (training epochs, population jobs; sent to
runs/<profile>/progress.log through DETDESIGN_PROGRESS_LOG, never into the notebook) are printed, or a heartbeat
when there is none; each notebook starts with "notebook k of N" and the time left from data/timings.csv, and a
notebook running more than twice its recorded time gets a warning. A failing notebook's executed copy goes to
runs/<profile>/failed/ and the run goes on with the next one; the exit status says whether any failed.
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
from detdesign.timings import fmt_seconds

ROOT = Path(__file__).resolve().parents[1]


# the kernel's own start-up log (e.g. "Kernel is running over TCP without encryption", once per notebook) is noise
# in a batch run on one machine; errors still show
QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


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


SLOW = 2.0  # a notebook running this many times its recorded time gets a warning (a loaded machine, say)


class ProgressEcho(threading.Thread):
    """Every ``every`` seconds: the newest progress line the kernel (and its workers) wrote to ``log``, or, when
    there is none, a heartbeat with the elapsed time; once, a warning when the notebook runs more than
    :data:`SLOW` times its recorded time (``expected`` seconds; None when never recorded)."""

    def __init__(self, log: Path, prefix: str, expected: float | None = None, every: float = 30.0,
                 heartbeat: float = 120.0):
        super().__init__(daemon=True)
        self.log, self.prefix, self.every, self.stop = log, prefix, every, threading.Event()
        self.expected, self.t0, self.warned, self.heartbeat = expected, time.perf_counter(), False, heartbeat
        self.log.write_text("")

    def run(self) -> None:
        last, printed = "", time.perf_counter()
        while not self.stop.wait(self.every):
            now = time.perf_counter()
            elapsed = now - self.t0
            text = self.log.read_text(errors="replace").replace("\r", "\n")
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines and lines[-1] != last:
                last, printed = lines[-1], now
                print(f"{self.prefix} {last}", flush=True)
            elif now - printed >= self.heartbeat:  # nothing new for a while: say the notebook is alive
                printed = now
                print(f"{self.prefix} still running, {fmt_seconds(elapsed)} elapsed", flush=True)
            if self.expected and not self.warned and elapsed > SLOW * self.expected:
                self.warned = True
                print(f"{self.prefix} WARNING: {elapsed / self.expected:.1f}x its recorded time "
                      f"({fmt_seconds(self.expected)}): is another job sharing the CPU? (times are meaningful "
                      f"on a quiet machine only)", file=sys.stderr, flush=True)


def recorded_times(profile: str) -> dict[str, float]:
    """Notebook stem -> its recorded wall time in ``profile`` (data/timings.csv; a fresh full run's time)."""
    from detdesign.timings import load_timings

    df = load_timings()
    df = df[df["profile"] == profile]
    return {r.notebook: float(r.seconds) for r in df.itertuples()}


def print_ledger(profile: str, runs: Path) -> None:
    """What this run measured: its own ledger (not the published one), one line per claim; a run of another profile
    than full also shows the published verdict beside its own, with this run's reason when it did not decide (a
    quick run's short trainings cannot decide what the full run did)."""
    from detdesign.claims import load_all
    from detdesign.outputs import outputs

    folder = outputs(profile).claims
    ledger = load_all(folder)
    if ledger.empty:
        return
    published = {}
    if profile != "full":
        pub = load_all(outputs("full").claims)
        published = dict(zip(pub["claim_id"], pub["holds"]))
    print(f"[{profile}] this run's ledger ({folder})" + (", with the published verdict" if published else "") + ":")
    for r in ledger.itertuples():
        measured = r.we_measured if len(r.we_measured) <= 60 else r.we_measured[:57] + "..."
        pub = f" published {published.get(r.claim_id, '-'):<13}" if published else ""
        why = f" ({r.reason[:50]})" if published and r.reason else ""
        print(f"  {r.claim_id:<27} {r.holds:<13}{pub} {measured}{why}")
    counts = ledger["holds"].value_counts()
    print(f"[{profile}] verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) +
          (" (this profile's, not the published ones: see the README's claims)" if profile != "full" else ""))


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
    times, failures = [], []
    expected = recorded_times(args.profile)
    for k, nb in enumerate(notebooks, 1):
        out = out_dir / nb.name
        t0 = time.perf_counter()
        left = sum(expected.get(p.stem, 0.0) for p in notebooks[k - 1:])
        hint = f" (recorded {fmt_seconds(expected[nb.stem])}; about {fmt_seconds(left)} left in this run" + \
            (", less where the caches hold the results)" if args.profile == "full" else ")") \
            if nb.stem in expected else ""
        print(f"[{args.profile}] notebook {k} of {len(notebooks)}: {nb.name}{hint} ...", flush=True)
        # a unique temporary name (two runs never share it); a killed run never leaves a half-executed notebook
        fd, name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".running.ipynb", dir=out.parent)
        os.close(fd)
        tmp = Path(name)
        echo = ProgressEcho(log, f"[{args.profile}] {nb.stem}:", expected.get(nb.stem))
        echo.start()
        try:
            pm.execute_notebook(str(nb), str(tmp), kernel_name="python3", cwd=str(args.notebooks),
                                progress_bar=args.cell_bar, extra_arguments=QUIET_KERNEL)
            clean(tmp)
            os.replace(tmp, out)
        except Exception as err:
            failed = args.runs / args.profile / "failed" / nb.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            if tmp.exists() and tmp.stat().st_size:
                os.replace(tmp, failed)  # the executed copy, error included, to inspect
            print(f"[{args.profile}] {nb.name} FAILED ({type(err).__name__}); the executed copy is {failed}; "
                  f"going on with the next notebook", file=sys.stderr, flush=True)
            failures.append(nb.name)
            continue
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
    if failures:
        print(f"[{args.profile}] {len(failures)} of {len(notebooks)} notebooks FAILED: {', '.join(failures)} (their "
              f"executed copies are under {args.runs / args.profile / 'failed'}); times not recorded",
              file=sys.stderr)
        return 1
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
