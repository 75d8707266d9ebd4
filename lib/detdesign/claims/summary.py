"""Which claims of each paper hold: the per-paper summary of the ledger (the README's top, the site, the tour).

The ledger (:mod:`detdesign.claims.ledger`) has one row per claim; a reader first wants, per paper, how many of its
claims hold, fail or are undecided, and for each claim the verdict with its one-line reason. Only rows of kind
``paper`` count as a paper's claims; fidelity checks (our implementation against official numbers) and the
project's own targets are counted apart.
"""

from __future__ import annotations

import re

import pandas as pd

# notebook -> the paper (family) its claims belong to, in reading order
PAPERS = {
    "01_bn_rescaling": "Zen-NAS",
    "06_zen_nas_search": "Zen-NAS",
    "02_proxy_vs_accuracy": "Zero-cost proxies (Zen-NAS §4 and the proxy papers it compares with)",
    "03_msep_ablation": "MAE-DET",
    "04_compound_scaling": "EfficientNet / EfficientDet",
    "05_dynamicdet": "DynamicDet",
}
DECIDED = ("yes", "partly", "no")
UNDECIDED = ("inconclusive", "schedule-dependent", "descriptive", "not tested")
SHORT = 110  # characters of "paper says" shown per claim
MARKERS = ("<!-- summary:start -->", "<!-- summary:end -->")
NOTEBOOK_MARKERS = ("<!-- notebooks:start -->", "<!-- notebooks:end -->")  # the README's table of notebooks


def paper_of(notebook: str) -> str:
    """The paper a notebook's claims belong to (the project's own notebooks 00*: ``"the instrument"``)."""
    return PAPERS.get(notebook, "the instrument (data, reference detector, testbed)")


def counts(df: pd.DataFrame) -> pd.DataFrame:
    """One row per paper (reading order), one column per verdict, plus ``claims`` and ``undecided``."""
    papers = df[df["kind"] == "paper"].assign(paper_family=lambda d: d["notebook"].map(paper_of))
    order = list(dict.fromkeys(PAPERS.values()))
    t = papers.groupby(["paper_family", "holds"]).size().unstack(fill_value=0)
    t = t.reindex(columns=[*DECIDED, *UNDECIDED], fill_value=0)
    t = t.reindex([p for p in order if p in t.index])
    t["claims"] = t.sum(axis=1)
    t["undecided"] = t[list(UNDECIDED)].sum(axis=1)
    return t


def short(text: str, n: int = SHORT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


_PARENS = re.compile(r"\s*\((?:[^()]|\([^()]*\))*\)")  # a parenthesis, one nested level inside


def why(row) -> str:
    """`` (reason; the measurement alone: lean)`` of an undecided row; a precondition keeps its name only."""
    if row.holds in DECIDED:
        return ""
    lean = f"; the measurement alone: {row.lean}" if row.lean and row.lean != row.holds else ""
    reason = _PARENS.sub("", str(row.reason)) if str(row.reason).startswith("precondition") else str(row.reason)
    return f" ({short(reason, 120) or 'no reason recorded'}{lean})"


def papers(df: pd.DataFrame):
    """Per paper (reading order): its name, its verdict tally (``["2 yes", "1 inconclusive"]``), its claim count
    and its rows of kind ``paper``: what the README summary and the site's landing page both list."""
    for paper, c in counts(df).iterrows():
        tally = [f"{c[v]} {v}" for v in (*DECIDED, *UNDECIDED) if c[v]]
        yield paper, tally, c["claims"], df[(df["kind"] == "paper") & (df["notebook"].map(paper_of) == paper)]


def to_markdown(df: pd.DataFrame) -> str:
    """The summary as markdown: per paper a count line, then one bullet per claim (verdict, what the paper says,
    and for an undecided claim the reason and what the measurement alone says); the fidelity checks and the
    project's targets in one closing line each."""
    if df.empty:
        return "_no claims recorded yet: run `make reproduce PROFILE=full`_"
    out = []
    for paper, tally, n, rows in papers(df):
        out.append(f"**{paper}**: {n} claims, {', '.join(tally)}")
        out += [f"- **{r.holds}** `{r.claim_id}`: {short(r.paper_says)}{why(r)}" for r in rows.itertuples()]
        out.append("")
    for kind, label in (("fidelity", "Fidelity checks (our code against official numbers)"),
                        ("target", "The project's own targets (instrument quality)")):
        sub = df[df["kind"] == kind]
        if len(sub):
            tally = sub["holds"].value_counts()
            out.append(f"**{label}**: {len(sub)} rows, " + ", ".join(f"{n} {v}" for v, n in tally.items()))
    return "\n".join(out).rstrip()


def notebook_status(df: pd.DataFrame) -> dict[str, str]:
    """Notebook -> the status cell of the README's table of notebooks: its ledger rows' verdict counts."""
    out = {}
    for nb, rows in df.groupby("notebook", sort=False):
        tally = rows["holds"].value_counts()
        parts = [f"{tally[v]} {v}" for v in (*DECIDED, *UNDECIDED) if v in tally]
        out[nb] = f"published; {len(rows)} ledger rows: {', '.join(parts)}"
    return out


def render_status(table: str, df: pd.DataFrame) -> str:
    """The README's table of notebooks (markdown rows ``| `NB.ipynb` | what it does | status |``) with every status
    cell rendered from the ledger (a notebook without ledger rows: ``not published``)."""
    status = notebook_status(df)
    lines = []
    for line in table.splitlines():
        m = re.match(r"^\| `(\w+)\.ipynb` \|(.*)\| [^|]* \|$", line)
        if m:
            line = f"| `{m.group(1)}.ipynb` |{m.group(2)}| {status.get(m.group(1), 'not published')} |"
        lines.append(line)
    return "\n".join(lines)
