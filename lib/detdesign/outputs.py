"""Where a profile's figures, claims and result caches go.

The output home is ``$DETDESIGN_HOME``, else the detdesign checkout that contains the working directory, else
``./detdesign-runs`` in the working directory: outputs go where the user runs, never into the checkout a
package was installed from.

Inside a checkout, only the ``full`` profile with the default seed (0) writes the committed ``figures/``,
``data/claims/`` and ``data/cache/``; every other run writes under the ignored ``runs/<profile>/`` (or
``runs/<profile>-seed<N>/`` for another seed, so runs of different seeds never overwrite each other), and a
quick or smoke rerun never silently overwrites the published results. Outside a checkout every run writes
under ``<home>/runs/...`` the same way.

**The lab** (``make lab`` sets ``DETDESIGN_LAB=1``): working copies open on the published results, so there the
``full`` profile is the default and replays them, but it writes under ``runs/lab/full/`` (figures, ledger) and
reads and writes the result cache ``runs/lab/full/cache/``, which ``make lab`` seeds with the committed
``data/cache/`` rows: Run All in a working copy replays in seconds and never touches the published files.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from detdesign.profiles import profile as _profile

HOME_ENV = "DETDESIGN_HOME"
LAB_ENV = "DETDESIGN_LAB"


def in_lab() -> bool:
    """Whether this kernel runs a working copy of ``make lab`` (``$DETDESIGN_LAB`` is 1)."""
    return os.environ.get(LAB_ENV, "") == "1"


def lab_folder(home: Path) -> Path:
    """Where the lab's full-profile replays write (figures, ledger, result cache)."""
    return home / "runs" / "lab" / "full"


def is_checkout(path: Path) -> bool:
    """Whether ``path`` is a detdesign checkout (its pyproject names the project)."""
    py = path / "pyproject.toml"
    try:
        return py.is_file() and 'name = "detdesign"' in py.read_text()
    except OSError:
        return False


def _checkout_above(start: Path) -> Path | None:
    return next((cand for cand in (start, *start.parents) if is_checkout(cand)), None)


def repo_root() -> Path:
    """The detdesign checkout: ``$DETDESIGN_HOME``, else the nearest one above cwd or this file, else cwd.

    Used to find the code's neighbourhood (the offline data copies beside a checkout); outputs use
    :func:`output_home`."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        if (found := _checkout_above(start)) is not None:
            return found
    return Path.cwd().resolve()


def package_checkout() -> Path | None:
    """The checkout this package is installed from (editable install), else the one containing cwd, else None."""
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        if (found := _checkout_above(start)) is not None:
            return found
    return None


def output_home() -> Path:
    """Where runs write: ``$DETDESIGN_HOME``, else the checkout containing cwd, else ``./detdesign-runs``."""
    env = os.environ.get(HOME_ENV)
    if env:
        home = Path(env).expanduser().resolve()
        if home.exists() and not home.is_dir():
            raise ValueError(f"{HOME_ENV}={env!r} is a file, not a folder: point it at the folder runs should write "
                             "their figures, ledgers and caches into, or unset it")
        return home
    cwd = Path.cwd().resolve()
    return _checkout_above(cwd) or cwd / "detdesign-runs"


@dataclass(frozen=True)
class Outputs:
    """Output folders of one profile (created on first use by the writers)."""

    profile: str
    root: Path
    figures: Path
    claims: Path
    cache: Path
    checkpoints: Path  # model checkpoints: always under the ignored runs/, never committed


def outputs(profile: str, seed: int = 0) -> Outputs:
    """Output folders for ``profile`` (validated with :func:`detdesign.profile`) and ``seed``."""
    name = _profile(profile).name
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    home = output_home()
    tag = name if seed == 0 else f"{name}-seed{seed}"
    if name == "full" and seed == 0 and is_checkout(home):
        if in_lab():  # replays the published results without writing the published folders
            lab = lab_folder(home)
            return Outputs(name, lab, lab / "figures", lab / "claims", lab / "cache",
                           home / "runs" / name / "checkpoints")
        return Outputs(name, home, home / "figures", home / "data" / "claims", home / "data" / "cache",
                       home / "runs" / name / "checkpoints")
    root = home / "runs" / tag
    return Outputs(name, root, root / "figures", root / "claims", root / "cache", root / "checkpoints")


def published_claims() -> Path:
    """The published ledger folder: the checkout's ``data/claims`` (also in the lab, whose own full replays write
    elsewhere), else the full profile's claims folder of the output home."""
    home = output_home()
    return home / "data" / "claims" if is_checkout(home) else outputs("full").claims


MANIFEST = "published.txt"  # in notebooks/: the published notebooks, one file name per line
RUNNER_ENV = "DETDESIGN_RUNNER"  # set by the notebook runner and the test target: a sanctioned execution


def published_notebooks(folder: str | os.PathLike) -> list[Path]:
    """The published notebooks of ``folder`` in reading order, from its ``published.txt`` manifest (a folder
    without one, e.g. a user's own, gives its ``[0-9]*.ipynb`` files); a listed notebook that is missing raises."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return sorted(folder.glob("[0-9]*.ipynb"))
    names = [ln.strip() for ln in manifest.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise ValueError(f"{manifest} lists {missing}, which are not in {folder}: restore them or edit the list")
    return [folder / n for n in names]


def warn_if_published_outside_runner(cwd: Path | None = None) -> str | None:
    """A kernel running in the checkout's ``notebooks/`` without the runner (``jupyter nbconvert --execute
    --inplace`` there, or opening the published notebook itself) may overwrite the published results with another
    profile's: warn, and say what to use instead. Returns the warning (None when there is nothing to say)."""
    cwd = (cwd or Path.cwd()).resolve()
    if os.environ.get(RUNNER_ENV) or in_lab() or not (cwd.name == "notebooks" and is_checkout(cwd.parent)):
        return None
    msg = ("this kernel runs in the checkout's notebooks/, which hold the published full-profile results: saving "
           "this notebook replaces them. Use `make lab` (working copies under runs/lab/) or `make reproduce` "
           "(the runner) instead.")
    warnings.warn(msg, stacklevel=2)
    return msg
