"""The claims ledger: every notebook ends by recording "paper says / we measured / holds?".

A row's verdict comes from a rule of :mod:`detdesign.claims.rules` (a ``Decision``: verdict, lean, reason). A
claim may carry **preconditions** (:class:`Precondition`: what must hold for the test to be able to decide,
e.g. "the detector learned classes"), each with its measured value, its rule and whether it is met, and an
**interval** (the uncertainty of the measured value). :func:`verdict` is the precondition gate: a claim whose
preconditions are not all met is ``inconclusive`` whatever its measurement said (the ``lean`` column keeps what
the measurement alone said), so "no" is reserved for a test that could have said yes.

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

from detdesign.claims import effect as _effect
from detdesign.claims.effect import Effect
from detdesign.claims.rules import HOLDS, Decision
from detdesign.outputs import outputs

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
    """The precondition gate: ``inconclusive`` when any precondition is not met, else ``outcome`` (the verdict of
    a rule of :mod:`detdesign.claims.rules`)."""
    if outcome not in HOLDS:
        raise ValueError(f"outcome must be one of {HOLDS}, got {outcome!r}")
    return "inconclusive" if any(not p.met for p in preconditions) else outcome


def interval(lo: float, hi: float, fmt: str = "{:+.3f}", level: str = "95%") -> str:
    """A ledger interval column: ``"95% [lo, hi]"``; empty when either end is NaN."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"{level} [{fmt.format(lo)}, {fmt.format(hi)}]"


@dataclass(frozen=True)
class Claim:
    """One ledger row.

    ``holds``: a :class:`~detdesign.claims.rules.Decision` from a rule of :mod:`detdesign.claims.rules` (its
    verdict, lean, reason and detail are unpacked into the row), or a verdict string of :data:`HOLDS` for a row
    that states its verdict (``not tested``; rows of fidelity checks). When a precondition is not met the verdict
    becomes ``inconclusive`` (see :func:`verdict`), the reason ``precondition not met: ...`` and the lean keeps
    what the measurement alone said. ``lean``: what the measurement alone says (yes / no / partly /
    inconclusive), also where the rule could not decide; ``reason``: why an undecided row is undecided (a
    category of :data:`~detdesign.claims.rules.REASONS`, e.g. ``needs 2S`` or ``descriptive: needs 350 seeds ...``).
    ``interval``: the uncertainty of ``we_measured`` (:func:`interval`). ``kind``: ``paper`` (a claim of a
    paper), ``fidelity`` (our implementation against an official number) or ``target`` (the project's own goal).
    ``effect``: the number the verdict rests on (:class:`~detdesign.claims.effect.Effect`; taken from the Decision
    when not given), drawn by the figure of every claim.
    """

    claim_id: str
    paper: str
    paper_says: str
    we_measured: str
    holds: str
    note: str = ""
    interval: str = ""
    preconditions: tuple[Precondition, ...] = field(default_factory=tuple)
    timing: bool = False  # rests on wall-clock measurements: may differ between identical runs (see timing_outcome)
    lean: str = ""
    reason: str = ""
    kind: str = "paper"
    effect: Effect | None = None

    def __post_init__(self):
        if not self.claim_id:
            raise ValueError("claim_id must be a non-empty string such as '01-overflow'")
        if self.effect is not None and not isinstance(self.effect, Effect):
            raise TypeError(f"claim {self.claim_id!r}: effect must be a detdesign.claims.Effect or None")
        if isinstance(self.holds, Decision):
            d = self.holds
            if self.effect is None:
                object.__setattr__(self, "effect", d.effect)
            object.__setattr__(self, "holds", d.holds)
            object.__setattr__(self, "lean", self.lean or d.lean)
            object.__setattr__(self, "reason", self.reason or d.reason)
            if d.detail:
                object.__setattr__(self, "note", f"{self.note}; {d.detail}" if self.note else d.detail)
        if self.holds not in HOLDS:
            raise ValueError(f"claim {self.claim_id!r}: holds must be one of {HOLDS} or a rules.Decision, got "
                             f"{self.holds!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.claim_id!r}: kind must be one of {KINDS}, got {self.kind!r}")
        pre = tuple(self.preconditions)
        if any(not isinstance(p, Precondition) for p in pre):
            raise TypeError(f"claim {self.claim_id!r}: preconditions must be detdesign.claims.Precondition")
        object.__setattr__(self, "preconditions", pre)
        if not self.lean and self.holds in ("yes", "partly", "no"):
            object.__setattr__(self, "lean", self.holds)
        final = verdict(self.holds, pre)
        if final != self.holds:
            failed = ", ".join(f"{p.name} ({p.measured}, needs {p.rule})" for p in pre if not p.met)
            object.__setattr__(self, "reason", f"precondition not met: {failed}")
            object.__setattr__(self, "holds", final)

    def row(self) -> dict:
        """The CSV row: preconditions as a JSON list of ``{name, measured, rule, met}``, the effect as its
        ``effect_*`` columns (empty without one)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "effect"}
        out["preconditions"] = json.dumps([asdict(p) for p in self.preconditions]) if self.preconditions else ""
        return {**out, **(self.effect.row() if self.effect else dict.fromkeys(_effect.COLUMNS, ""))}


KINDS = ("paper", "fidelity", "target")
COLUMNS = ("notebook", "profile", *(f.name for f in fields(Claim) if f.name != "effect"), *_effect.COLUMNS)


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


def verdict_text(holds: str, lean: str = "", reason: str = "") -> str:
    """The verdict cell: ``**inconclusive** (needs 2S; the measurement alone: no)``."""
    if not reason:
        return f"**{holds}**"
    alone = f"; the measurement alone: {lean}" if lean and lean != holds else ""
    return f"**{holds}** ({reason}{alone})"


def to_markdown(df: pd.DataFrame) -> str:
    """The README table: notebook, claim, paper says, we measured (+ interval), preconditions, profile, holds?
    (with the reason and the lean of an undecided row), note."""
    head = ("| notebook | claim | paper says | we measured | preconditions | profile | holds? | note |\n"
            "|---|---|---|---|---|---|---|---|")
    if df.empty:
        return head + "\n| _no claims recorded yet: run `make reproduce PROFILE=full`_ | | | | | | | |"
    rows = []
    for r in df.itertuples():
        measured = f"{r.we_measured} ({r.interval})" if r.interval else r.we_measured
        rows.append(f"| {_cell(r.notebook)} | {_cell(r.claim_id)} ({_cell(r.paper)}) | {_cell(r.paper_says)} | "
                    f"{_cell(measured)} | {_cell(preconditions_text(r.preconditions))} | {_cell(r.profile)} | "
                    f"{_cell(verdict_text(r.holds, r.lean, r.reason))} | {_cell(r.note)} |")
    return "\n".join([head, *rows])


def tables(df: pd.DataFrame) -> str:
    """The README's claims section: the papers' claims in one table, then the fidelity checks (our code against
    official numbers) and the project's own targets (the instrument's quality) in a table of their own."""
    own = df["kind"].isin(("fidelity", "target"))
    out = to_markdown(df[~own])
    if own.any():
        out += ("\n\n**Fidelity checks and the project's own targets** (not claims of the papers: whether our "
                "implementation matches the official numbers, and whether the instrument is good enough to test the "
                "claims above)\n\n" + to_markdown(df[own]))
    return out


def replace_between(text: str, start: str, end: str, body: str, where: str = "README") -> str:
    """``text`` with everything between the markers ``start`` and ``end`` replaced by ``body``."""
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise ValueError(f"{where} needs the markers {start} and {end} (in that order)")
    before, rest = text.split(start, 1)
    return f"{before}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def render_readme(readme: str | os.PathLike, folder: str | os.PathLike) -> str:
    """Replace the claims table between the README markers with the rows under ``folder``, and the per-paper
    summary (:mod:`detdesign.claims.summary`) between its own markers, and the status column of the table of
    notebooks (between ``<!-- notebooks:start -->`` and ``<!-- notebooks:end -->``) from the same rows."""
    from detdesign.claims import summary

    path = Path(readme)
    rows = load_all(folder)
    new = replace_between(path.read_text(), START, END, tables(rows), str(path))
    new = replace_between(new, *summary.MARKERS, summary.to_markdown(rows), str(path))
    if summary.NOTEBOOK_MARKERS[0] in new:
        start, end = summary.NOTEBOOK_MARKERS
        table = new.split(start, 1)[1].split(end, 1)[0].strip("\n")
        new = replace_between(new, start, end, summary.render_status(table, rows), str(path))
    path.write_text(new)
    return new
