"""The number a verdict rests on (claims.Effect): the rules attach it, the ledger stores it, the figure of every
claim draws it (one panel per paper, one row per claim, coloured by verdict)."""

import math

import matplotlib
import pytest

from detdesign.claims import (
    Claim,
    Decision,
    Difference,
    Effect,
    combine_decisions,
    converged_by_doubling,
    decide_difference,
    decide_equivalence,
    decide_non_inferiority,
    decided,
    descriptive_if_unaffordable,
    figure,
    load_all,
    record,
)

matplotlib.use("Agg")


def test_the_schedule_robustness_rule_reports_the_deciding_rung():
    s, s2 = Difference(0.030, 0.010, 0.050, 2), Difference(0.025, 0.012, 0.038, 2, schedule=2.0)
    e = decide_difference([s, s2], threshold=0.0, scale=100).effect
    assert (e.value, e.lo, e.hi, e.threshold) == pytest.approx((2.5, 1.2, 3.8, 0.0))
    assert e.label == "difference at 2S"
    assert decide_difference(s).effect.value == pytest.approx(0.030)  # S only: undecided, the number still drawn


def test_margin_rules_give_their_band_and_the_doubling_test_its_tolerance():
    d = Difference(0.002, -0.004, 0.008, 3)
    eq = decide_equivalence(d, 0.01).effect
    assert (eq.threshold, eq.threshold_hi) == (-0.01, 0.01)
    ni = decide_non_inferiority(d, 0.01).effect
    assert ni.threshold == -0.01 and math.isnan(ni.threshold_hi)
    conv = converged_by_doubling(0.40, 0.405).effect
    assert conv.value == pytest.approx(0.005) and conv.threshold == 0.01


def test_gates_and_combinations_keep_the_effect():
    d = decide_difference(Difference(0.001, -0.01, 0.012, 2))
    gated = descriptive_if_unaffordable(d, 500, 2, "seeds", 1.0, 48)
    assert gated.holds == "descriptive" and gated.effect == d.effect
    plain = decided("yes")
    assert combine_decisions([plain, d]).effect == d.effect  # the naming (undecided) part's number
    two = [decide_difference(Difference(v, v - 0.01, v + 0.01, 2)) for v in (0.05, 0.06)]
    assert combine_decisions(two).effect == two[0].effect  # both undecided: the first names the row
    decided_two = [Decision("yes", "yes", effect=Effect(1.0)), Decision("yes", "yes", effect=Effect(2.0))]
    assert combine_decisions(decided_two).effect is None  # no single number decides the row


def test_effect_checks_its_numbers():
    with pytest.raises(ValueError, match="needs a value"):
        Effect(math.nan)
    with pytest.raises(ValueError, match="lo <= hi"):
        Effect(0.0, 1.0, -1.0)
    with pytest.raises(TypeError, match="floats"):
        Effect("0.3")
    with pytest.raises(TypeError, match="effect must be"):
        Claim("x-1", "P", "says", "measured", "yes", effect=0.3)


def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("DETDESIGN_HOME", str(tmp_path))
    rows = [Claim("04-a", "EfficientDet", "BiFPN beats FPN", "+0.06", decide_difference(
                [Difference(0.06, 0.03, 0.09, 2), Difference(0.05, 0.03, 0.07, 2, schedule=2.0)])),
            Claim("04-b", "EfficientNet", "compound is best", "order only", decided("no")),
            Claim("04-c", "EfficientNet", "counts", "equal", "yes", kind="fidelity")]
    record("04_compound_scaling", rows, "smoke")
    rows = [Claim("01-a", "Zen-NAS", "tau", "0.9", decided("yes"), effect=Effect(0.9, threshold=0.8, label="tau"))]
    path = record("01_bn_rescaling", rows, "smoke")
    return path


def test_the_ledger_round_trips_the_effect_columns(tmp_path, monkeypatch):
    _ledger(tmp_path, monkeypatch)
    from detdesign.outputs import outputs

    df = load_all(outputs("smoke").claims).set_index("claim_id")
    assert float(df.loc["04-a", "effect_value"]) == pytest.approx(0.05)
    assert df.loc["04-a", "effect_label"] == "difference at 2S" and df.loc["04-b", "effect_value"] == ""


def test_the_figure_has_a_panel_per_paper_and_a_row_per_claim(tmp_path, monkeypatch):
    _ledger(tmp_path, monkeypatch)
    from detdesign.outputs import outputs

    df = load_all(outputs("smoke").claims)
    fig = figure.draw(df)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Zen-NAS" in texts and "EfficientNet / EfficientDet" in texts  # one heading per paper, reading order
    assert {"01-a", "04-a", "04-b"} <= set(texts) and "04-c" not in texts  # fidelity rows have their own table
    drawn = [ax for ax in fig.axes if ax.lines]
    assert len(drawn) == 2  # the two rows with a number; "order only" is shown in words
    colours = {line.get_color() for ax in drawn for line in ax.lines if line.get_marker() == "o"}
    assert colours == {figure.COLOURS["yes"]}
    assert "order only" in texts
    with pytest.raises(ValueError, match="no paper claims"):
        figure.draw(df[df["kind"] == "fidelity"])
