"""The one time promise: measured wall time of every notebook per profile, kept in ``data/timings.csv``.

The README's time table and the tour's notebook table both read this
file, so they cannot disagree. Rows are written by ``scripts/run_notebooks.py --record-times`` after a run on a
quiet machine (nothing else running: torch threads slow down ~10x when two jobs share two cores); a rerun of
``full`` on its filled caches is not a measurement of the full cost and is never recorded over a fresh one
(``--record-times`` refuses to lower a full time unless ``--fresh`` says the caches were empty).

Columns: ``notebook`` (file stem), ``profile``, ``seconds``, ``measured`` (date), ``machine`` (one line),
``note`` (what the time covers when it is not one plain run).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from detdesign.outputs import package_checkout, published_notebooks, repo_root

COLUMNS = ("notebook", "profile", "seconds", "measured", "machine", "note")


def timings_path() -> Path:
    """``data/timings.csv`` of the checkout the package comes from."""
    return (package_checkout() or repo_root()) / "data" / "timings.csv"


def load_timings(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The recorded times (an empty table with :data:`COLUMNS` when none were recorded)."""
    path = Path(path) if path is not None else timings_path()
    if not path.is_file():
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.read_csv(path, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}; expected {list(COLUMNS)}")
    return df[list(COLUMNS)]


def record_times(rows: list[dict], path: str | os.PathLike | None = None, *, fresh: bool = False) -> pd.DataFrame:
    """Merge ``rows`` (dicts with :data:`COLUMNS`) into the file, one row per (notebook, profile); a ``full``
    time is only lowered when ``fresh`` (a rerun on filled caches measures the cache, not the work)."""
    path = Path(path) if path is not None else timings_path()
    old = load_timings(path)
    table = {(r.notebook, r.profile): r._asdict() for r in old.itertuples(index=False)}
    for row in rows:
        if set(row) != set(COLUMNS):
            raise ValueError(f"a timing row needs exactly {list(COLUMNS)}, got {sorted(row)}")
        key = (row["notebook"], row["profile"])
        if row["profile"] == "full" and key in table and not fresh and row["seconds"] < table[key]["seconds"]:
            continue
        table[key] = dict(row)
    df = pd.DataFrame(sorted(table.values(), key=lambda r: (r["profile"], r["notebook"])), columns=list(COLUMNS))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".timings.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        df.to_csv(fh, index=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return df


def fmt_seconds(seconds) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``; ``not measured`` for an empty or NaN cell."""
    if seconds == "" or pd.isna(seconds):
        return "not measured"
    s = float(seconds)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def notebook_names() -> list[str]:
    """Stems of the checkout's numbered notebooks."""
    return [p.stem for p in published_notebooks((package_checkout() or repo_root()) / "notebooks")]


def time_table(df: pd.DataFrame | None = None, profiles=("quick", "full")) -> pd.DataFrame:
    """Notebook x profile table of formatted times, with a ``total`` row (a profile's total is only given when
    every notebook was measured)."""
    df = load_timings() if df is None else df
    notebooks = sorted(set(notebook_names()) | set(df["notebook"]))
    out = {}
    for prof in profiles:
        sub = df[df["profile"] == prof].set_index("notebook")["seconds"]
        col = [fmt_seconds(sub.get(nb, "")) for nb in notebooks]
        total = fmt_seconds(sub.sum()) if notebooks and all(nb in sub.index for nb in notebooks) else "incomplete"
        out[prof] = [*col, total]
    return pd.DataFrame(out, index=[*notebooks, "total"])


def to_markdown(df: pd.DataFrame | None = None) -> str:
    """The README's time table."""
    table = time_table(df)
    head = "| notebook | " + " | ".join(table.columns) + " |\n|---|" + "---|" * len(table.columns)
    rows = [f"| {nb} | " + " | ".join(table.loc[nb]) + " |" for nb in table.index]
    return "\n".join([head, *rows])
