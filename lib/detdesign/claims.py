"""The claims ledger: every notebook ends by recording "paper says / we measured / holds?".

Each notebook calls :func:`record` once with its rows; they go to ``<claims>/<notebook>.csv`` of the
profile (the committed ``data/claims/`` for ``full``). :func:`render_readme` rewrites the table between the
README's ``<!-- claims:start -->`` and ``<!-- claims:end -->`` markers from those files, so the README never
carries a hand-typed number (``make claims``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from detdesign.outputs import outputs

HOLDS = ("yes", "no", "partly", "not tested")
START, END = "<!-- claims:start -->", "<!-- claims:end -->"


@dataclass(frozen=True)
class Claim:
    """One ledger row. ``holds`` is one of ``yes``, ``no``, ``partly``, ``not tested``."""

    claim_id: str
    paper: str
    paper_says: str
    we_measured: str
    holds: str
    note: str = ""

    def __post_init__(self):
        if self.holds not in HOLDS:
            raise ValueError(f"claim {self.claim_id!r}: holds must be one of {HOLDS}, got {self.holds!r}")
        if not self.claim_id:
            raise ValueError("claim_id must be a non-empty string such as '01-overflow'")


COLUMNS = ("notebook", "profile", *(f.name for f in fields(Claim)))


def record(notebook: str, claims: list[Claim], profile: str) -> pd.DataFrame:
    """Write ``claims`` of ``notebook`` (e.g. ``"01_bn_rescaling"``) for ``profile``; return the table."""
    if not claims:
        raise ValueError(f"{notebook}: record() needs at least one Claim")
    if any(not isinstance(c, Claim) for c in claims):
        raise TypeError("record() takes a list of detdesign.claims.Claim")
    name = outputs(profile).profile
    df = pd.DataFrame([{"notebook": notebook, "profile": name, **asdict(c)} for c in claims],
                      columns=list(COLUMNS))
    folder = outputs(profile).claims
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{notebook}.", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w") as fh:
        df.to_csv(fh, index=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, folder / f"{notebook}.csv")
    return df


def load_all(folder: str | os.PathLike) -> pd.DataFrame:
    """All ledger rows found in ``folder`` (sorted by notebook file name)."""
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat([pd.read_csv(f, keep_default_na=False) for f in files], ignore_index=True)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """The README table: notebook, claim, paper says, we measured, profile, holds?, note."""
    head = "| notebook | claim | paper says | we measured | profile | holds? | note |\n|---|---|---|---|---|---|---|"
    if df.empty:
        return head + "\n| _no claims recorded yet: run `make reproduce PROFILE=full`_ | | | | | | |"
    rows = [f"| {_cell(r.notebook)} | {_cell(r.claim_id)} ({_cell(r.paper)}) | {_cell(r.paper_says)} | "
            f"{_cell(r.we_measured)} | {_cell(r.profile)} | **{_cell(r.holds)}** | {_cell(r.note)} |"
            for r in df.itertuples()]
    return "\n".join([head, *rows])


def render_readme(readme: str | os.PathLike, folder: str | os.PathLike) -> str:
    """Replace the claims table between the README markers with the rows under ``folder``."""
    path = Path(readme)
    text = path.read_text()
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise ValueError(f"{path} needs the markers {START} and {END} (in that order) around the claims table")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    new = f"{before}{START}\n{to_markdown(load_all(folder))}\n{END}{after}"
    path.write_text(new)
    return new
