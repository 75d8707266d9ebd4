"""The claims ledger: every notebook ends by recording "paper says / we measured / holds?".

A claim may carry **preconditions** (:class:`Precondition`: what must hold for the test to be able to decide,
e.g. "the trained networks converged"), each with its measured value, its rule and whether it is met, and an
**interval** (the uncertainty of the measured value). The verdict follows from one rule, :func:`verdict`:
a claim whose preconditions are not all met is ``inconclusive`` whatever its measurement said (the note
records what the measurement alone would have said), so "no" is reserved for a test that could have said yes.

Each notebook calls :func:`record` once with its rows; they go to ``<claims>/<notebook>.csv`` of the
profile (the committed ``data/claims/`` for ``full``). :func:`render_readme` rewrites the table between the
README's ``<!-- claims:start -->`` and ``<!-- claims:end -->`` markers from those files, so the README never
carries a hand-typed number (``make claims``).
"""

from __future__ import annotations

import json
import math
import operator
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd

from detdesign.outputs import outputs

HOLDS = ("yes", "partly", "no", "inconclusive", "not tested")
START, END = "<!-- claims:start -->", "<!-- claims:end -->"
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Precondition:
    """One thing that must hold for a claim's test to decide: ``name``, ``measured`` value (text), ``rule``, ``met``."""

    name: str
    measured: str
    rule: str
    met: bool

    @classmethod
    def check(cls, name: str, value: float, op: str, threshold: float, fmt: str = "{:.3g}") -> Precondition:
        """``value op threshold`` (``op`` one of < <= > >= ==); a NaN value is never met."""
        if op not in _OPS:
            raise ValueError(f"precondition {name!r}: op must be one of {tuple(_OPS)}, got {op!r}")
        value = float(value)
        met = math.isfinite(value) and bool(_OPS[op](value, threshold))
        return cls(name, fmt.format(value), f"{op} {fmt.format(threshold)}", met)


def verdict(outcome: str, preconditions=()) -> str:
    """The one verdict rule: ``inconclusive`` when any precondition is not met, else the measured ``outcome``."""
    if outcome not in HOLDS:
        raise ValueError(f"outcome must be one of {HOLDS}, got {outcome!r}")
    return "inconclusive" if any(not p.met for p in preconditions) else outcome


def interval(lo: float, hi: float, fmt: str = "{:+.3f}", level: str = "95%") -> str:
    """A ledger interval column: ``"95% [lo, hi]"``; empty when either end is NaN."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"{level} [{fmt.format(lo)}, {fmt.format(hi)}]"


def paired_outcome(lo: float, hi: float, seed_diffs) -> str:
    """The verdict of "A is better than B" from a paired difference A - B: ``yes`` when its interval over test-image
    resamples lies above 0 *and* every seed's own difference is above 0, ``no`` for the mirror image, else
    ``inconclusive``. An image bootstrap does not cover training noise; the seeds' agreement is what does."""
    seeds = [float(d) for d in seed_diffs]
    if not seeds or not all(math.isfinite(d) for d in seeds):
        raise ValueError(f"seed_diffs must hold one finite difference per seed, got {seed_diffs!r}")
    if lo > 0 and all(d > 0 for d in seeds):
        return "yes"
    if hi < 0 and all(d < 0 for d in seeds):
        return "no"
    return "inconclusive"


def timing_outcome(lo: float, hi: float, threshold: float, want: str = "<=") -> str:
    """The verdict of a timing claim "``measured want threshold``" from the interval ``[lo, hi]`` of the measured
    value over repeats (e.g. :func:`detdesign.stats.ratio_of_medians`): ``yes`` when the whole interval satisfies
    it, ``no`` when none of it does, ``inconclusive`` when the threshold lies inside the timing noise."""
    if want not in ("<=", ">="):
        raise ValueError(f"want must be '<=' or '>=', got {want!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"a timing interval needs finite lo <= hi, got [{lo}, {hi}]")
    good, bad = (hi <= threshold, lo > threshold) if want == "<=" else (lo >= threshold, hi < threshold)
    return "yes" if good else "no" if bad else "inconclusive"


@dataclass(frozen=True)
class Claim:
    """One ledger row. ``holds`` is the measured outcome (``yes``, ``partly``, ``no``, ``not tested``); it is
    replaced by ``inconclusive`` (see :func:`verdict`) when a precondition is not met, with the reason and the
    measured outcome appended to ``note``. ``interval``: the uncertainty of ``we_measured`` (:func:`interval`)."""

    claim_id: str
    paper: str
    paper_says: str
    we_measured: str
    holds: str
    note: str = ""
    interval: str = ""
    preconditions: tuple[Precondition, ...] = field(default_factory=tuple)
    timing: bool = False  # rests on wall-clock measurements: may differ between identical runs (see timing_outcome)

    def __post_init__(self):
        if self.holds not in HOLDS:
            raise ValueError(f"claim {self.claim_id!r}: holds must be one of {HOLDS}, got {self.holds!r}")
        if not self.claim_id:
            raise ValueError("claim_id must be a non-empty string such as '01-overflow'")
        pre = tuple(self.preconditions)
        if any(not isinstance(p, Precondition) for p in pre):
            raise TypeError(f"claim {self.claim_id!r}: preconditions must be detdesign.claims.Precondition")
        object.__setattr__(self, "preconditions", pre)
        final = verdict(self.holds, pre)
        if final != self.holds:
            failed = ", ".join(f"{p.name} ({p.measured}, needs {p.rule})" for p in pre if not p.met)
            reason = f"inconclusive: not met: {failed}; the measurement alone said {self.holds!r}"
            object.__setattr__(self, "note", f"{self.note}; {reason}" if self.note else reason)
            object.__setattr__(self, "holds", final)

    def row(self) -> dict:
        """The CSV row: preconditions as a JSON list of ``{name, measured, rule, met}``."""
        out = asdict(self)
        out["preconditions"] = json.dumps([asdict(p) for p in self.preconditions]) if self.preconditions else ""
        return out


COLUMNS = ("notebook", "profile", *(f.name for f in fields(Claim)))


class Ledger(pd.DataFrame):
    """A ledger table (a DataFrame) that shows in full: in JupyterLab and on GitHub its HTML has no 50-character
    truncation of the long text columns, text is left-aligned and wraps, the index is hidden and the
    preconditions column reads as text. Selecting columns (``ledger[["claim_id", "holds"]]``) keeps this."""

    @property
    def _constructor(self):
        return Ledger

    def _repr_html_(self) -> str:
        shown = pd.DataFrame(self).copy()
        if "preconditions" in shown.columns:
            shown["preconditions"] = shown["preconditions"].map(preconditions_text)
        styler = shown.style.hide(axis="index").set_properties(
            **{"text-align": "left", "white-space": "pre-wrap", "vertical-align": "top"})
        styler = styler.set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
        return styler.to_html()


def record(notebook: str, claims: list[Claim], profile: str, seed: int = 0) -> Ledger:
    """Write ``claims`` of ``notebook`` (e.g. ``"01_bn_rescaling"``) for ``profile`` and ``seed`` (the
    ledger folder of :func:`detdesign.outputs.outputs`); return the table."""
    if not claims:
        raise ValueError(f"{notebook}: record() needs at least one Claim")
    if any(not isinstance(c, Claim) for c in claims):
        raise TypeError("record() takes a list of detdesign.claims.Claim")
    name = outputs(profile).profile
    df = Ledger([{"notebook": notebook, "profile": name, **c.row()} for c in claims], columns=list(COLUMNS))
    folder = outputs(profile, seed).claims
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
    df = pd.concat([pd.read_csv(f, keep_default_na=False) for f in files], ignore_index=True)
    for col in COLUMNS:  # ledgers written before a column existed read as empty there
        df[col] = df[col].fillna("") if col in df.columns else ""
    return df[list(COLUMNS)]


def preconditions_text(cell: str) -> str:
    """The README's short form of a ledger's preconditions JSON: ``met name; NOT MET name``."""
    if not cell:
        return "none stated"
    items = json.loads(cell)
    return "; ".join(f"{'met' if p['met'] else 'NOT MET'}: {p['name']} ({p['measured']}, {p['rule']})" for p in items)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """The README table: notebook, claim, paper says, we measured (+ interval), preconditions, profile, holds?, note."""
    head = ("| notebook | claim | paper says | we measured | preconditions | profile | holds? | note |\n"
            "|---|---|---|---|---|---|---|---|")
    if df.empty:
        return head + "\n| _no claims recorded yet: run `make reproduce PROFILE=full`_ | | | | | | | |"
    rows = []
    for r in df.itertuples():
        measured = f"{r.we_measured} ({r.interval})" if r.interval else r.we_measured
        rows.append(f"| {_cell(r.notebook)} | {_cell(r.claim_id)} ({_cell(r.paper)}) | {_cell(r.paper_says)} | "
                    f"{_cell(measured)} | {_cell(preconditions_text(r.preconditions))} | {_cell(r.profile)} | "
                    f"**{_cell(r.holds)}** | {_cell(r.note)} |")
    return "\n".join([head, *rows])


def replace_between(text: str, start: str, end: str, body: str, where: str = "README") -> str:
    """``text`` with everything between the markers ``start`` and ``end`` replaced by ``body``."""
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise ValueError(f"{where} needs the markers {start} and {end} (in that order)")
    before, rest = text.split(start, 1)
    return f"{before}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def render_readme(readme: str | os.PathLike, folder: str | os.PathLike) -> str:
    """Replace the claims table between the README markers with the rows under ``folder``."""
    path = Path(readme)
    new = replace_between(path.read_text(), START, END, to_markdown(load_all(folder)), str(path))
    path.write_text(new)
    return new
