"""Claims with preconditions: one verdict rule, inconclusive when a precondition fails, CSV round-trip."""

import json

import pytest

from detdesign.claims import Claim, Precondition, interval, load_all, record, to_markdown, verdict
from detdesign.outputs import outputs


def test_one_rule_makes_a_failed_precondition_inconclusive():
    ok = Precondition.check("converged", 0.004, "<", 0.01)
    bad = Precondition.check("detector 2 better by 2 SE", 0.3, ">", 2.0)
    assert ok.met and not bad.met and bad.rule == "> 2"
    assert verdict("no", [ok]) == "no" and verdict("no", [ok, bad]) == "inconclusive"
    c = Claim("x-1", "paper", "says", "measured", "no", "note", preconditions=(ok, bad))
    assert c.holds == "inconclusive" and c.lean == "no" and c.reason.startswith("precondition not met: detector 2")
    assert Claim("x-2", "p", "s", "m", "yes", preconditions=(ok,)).holds == "yes"
    assert not Precondition.check("nan", float("nan"), ">", 0).met


def test_bad_claims_fail_clearly():
    with pytest.raises(ValueError, match="holds must be one of"):
        Claim("x", "p", "s", "m", "maybe")
    with pytest.raises(TypeError, match="Precondition"):
        Claim("x", "p", "s", "m", "yes", preconditions=({"met": True},))
    with pytest.raises(ValueError, match="op must be"):
        Precondition.check("x", 1, "=>", 0)


def test_ledger_csv_has_preconditions_and_interval_and_renders(tmp_path):
    pre = Precondition.check("converged", 0.02, "<", 0.01)
    rows = [Claim("a", "P", "says", "0.5", "yes", interval=interval(0.41, 0.58)),
            Claim("b", "P", "says", "0.1", "no", preconditions=(pre,))]
    df = record("99_test", rows, "smoke")
    assert list(df["holds"]) == ["yes", "inconclusive"] and df.loc[0, "interval"] == "95% [+0.410, +0.580]"
    back = load_all(outputs("smoke").claims)
    items = json.loads(back.loc[1, "preconditions"])
    assert items == [{"name": "converged", "measured": "0.02", "rule": "< 0.01", "met": False}]
    md = to_markdown(back)
    assert "NOT MET: converged" in md and "**inconclusive**" in md and "none stated" in md
    assert interval(float("nan"), 1.0) == ""


def test_old_ledgers_without_the_new_columns_still_render(tmp_path):
    (tmp_path / "00_old.csv").write_text("notebook,profile,claim_id,paper,paper_says,we_measured,holds,note\n"
                                         "00_old,full,o-1,P,says,1.0,yes,n\n")
    record("99_new", [Claim("n-1", "P", "s", "m", "no", preconditions=(Precondition.check("x", 1, ">", 0),))],
           "smoke")
    (tmp_path / "99_new.csv").write_text((outputs("smoke").claims / "99_new.csv").read_text())
    md = to_markdown(load_all(tmp_path))
    assert "none stated" in md and "met: x" in md


def test_a_ledger_shows_in_full_left_aligned_in_the_notebook():
    long_note = "a note that is much longer than fifty characters, so pandas would cut it with an ellipsis " * 2
    pre = Precondition.check("converged", 0.02, "<", 0.01)
    ledger = record("99_test", [Claim("a", "P", "says", "0.5", "yes", long_note.strip(), preconditions=(pre,))],
                    "smoke")
    shown = ledger[["claim_id", "note", "preconditions", "holds"]]  # how the notebooks select their columns
    html = shown._repr_html_()
    assert type(shown).__name__ == "Ledger" and long_note.strip() in html and "..." not in html
    assert "text-align: left" in html and "NOT MET: converged" in html
