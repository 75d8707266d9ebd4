"""The per-paper summary of the ledger (README top): counts per paper, one line per claim, reasons shortened."""

import pandas as pd

from detdesign.claims import COLUMNS, summary


def _rows(*rows):
    return pd.DataFrame([{c: "" for c in COLUMNS} | r for r in rows], columns=list(COLUMNS))


def test_counts_group_paper_claims_by_notebook_and_keep_fidelity_apart():
    df = _rows({"notebook": "01_bn_rescaling", "kind": "paper", "holds": "yes", "claim_id": "01-a"},
               {"notebook": "06_zen_nas_search", "kind": "paper", "holds": "inconclusive", "claim_id": "06-a",
                "reason": "needs 2S", "lean": "no"},
               {"notebook": "04_compound_scaling", "kind": "fidelity", "holds": "yes", "claim_id": "04-counts"},
               {"notebook": "04_compound_scaling", "kind": "paper", "holds": "no", "claim_id": "04-a"})
    t = summary.counts(df)
    assert list(t.index) == ["Zen-NAS", "EfficientNet / EfficientDet"]  # reading order, fidelity not counted
    assert t.loc["Zen-NAS", ["yes", "inconclusive", "claims", "undecided"]].tolist() == [1, 1, 2, 1]
    md = summary.to_markdown(df)
    assert "**Zen-NAS**: 2 claims, 1 yes, 1 inconclusive" in md
    assert "- **inconclusive** `06-a`:  (needs 2S; the measurement alone: no)" in md
    assert "**Fidelity checks (our code against official numbers)**: 1 rows, 1 yes" in md


def test_a_precondition_reason_keeps_the_names_and_long_text_is_cut():
    reason = "precondition not met: P1 cascade - detector 1 (seed variance (included)) (-0.0145, needs > 0)"
    df = _rows({"notebook": "05_dynamicdet", "kind": "paper", "holds": "inconclusive", "claim_id": "05-a",
                "reason": reason, "paper_says": "x" * 300})
    line = summary.to_markdown(df).splitlines()[1]
    assert "(precondition not met: P1 cascade - detector 1)" in line
    assert "x" * (summary.SHORT - 1) + "…" in line and "x" * summary.SHORT not in line


def test_an_empty_ledger_says_how_to_fill_it():
    assert "make reproduce PROFILE=full" in summary.to_markdown(_rows())


def test_the_readme_tables_put_fidelity_and_targets_apart():
    from detdesign.claims import tables

    df = _rows({"notebook": "04_compound_scaling", "kind": "paper", "holds": "no", "claim_id": "04-a"},
               {"notebook": "00c_testbed", "kind": "target", "holds": "yes", "claim_id": "00c-t"})
    text = tables(df)
    head, own = text.split("**Fidelity checks and the project's own targets**")
    assert "04-a" in head and "00c-t" not in head and "00c-t" in own
    assert "Fidelity checks" not in tables(df.iloc[:1])


def test_the_table_of_notebooks_gets_its_status_from_the_ledger():
    df = _rows({"notebook": "01_bn_rescaling", "kind": "paper", "holds": "yes", "claim_id": "01-a"},
               {"notebook": "01_bn_rescaling", "kind": "paper", "holds": "inconclusive", "claim_id": "01-b"})
    table = ("| notebook | claim | status |\n|---|---|---|\n| `01_bn_rescaling.ipynb` | Zen-NAS §3 | done (stale) |\n"
             "| `07_new.ipynb` | a draft | done |")
    out = summary.render_status(table, df).splitlines()
    assert out[2] == "| `01_bn_rescaling.ipynb` | Zen-NAS §3 | published; 2 ledger rows: 1 yes, 1 inconclusive |"
    assert out[3].endswith("| not published |") and out[:2] == table.splitlines()[:2]
