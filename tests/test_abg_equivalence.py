"""04-abg recast as equivalence (the paper's rule within 1 point of the best other candidate) and its power gate."""

import math

import pandas as pd
import pytest

from detdesign.claims import Decision, Difference, Precondition
from detdesign.claims.power import equivalence_gate
from detdesign.studies import scaling_grid as grid


def _d(diff, half, schedule=1.0, se=0.001):
    return Difference(diff, diff - half, diff + half, 2, schedule, "test", (diff, diff), se)


def test_equivalence_gate_sizes_by_the_distance_to_the_nearer_margin():
    und = Decision("inconclusive", "inconclusive", "interval contains the threshold")
    small = equivalence_gate(und, _d(-0.002, 0.02), 0.01, 0.005, seed_hours=0.1, budget_hours=48)
    assert small.holds == "inconclusive" and "seeds" in small.detail  # affordable: says how many
    far = equivalence_gate(und, _d(0.012, 0.02), 0.01, 0.005, seed_hours=0.1, budget_hours=48)
    assert far.holds == "descriptive"  # |diff| beyond the margin: no number of seeds shows equivalence
    same = equivalence_gate(und, _d(+0.002, 0.02), 0.01, 0.005, 0.1, 48)
    assert same.detail == small.detail  # symmetric in the sign of the difference
    with pytest.raises(ValueError, match="positive"):
        equivalence_gate(und, _d(0.0, 0.01), 0.0, 0.005, 0.1, 48)


def test_abg_rows_are_an_equivalence_and_a_row_for_the_other_candidates():
    abg = pd.DataFrame({"paper_rule": [True, False, False], "acc": [0.60, 0.602, 0.57],
                        "diff_to_paper": [0.0, 0.002, -0.03],
                        "d": [None, _d(-0.002, 0.004), _d(0.03, 0.005)]},
                       index=["(1.20, 1.10, 1.15)", "(1.10, 1.20, 1.10)", "(1.70, 1.10, 1.00)"])
    pre = (Precondition.check("seeds", 2.0, ">=", 2.0),)
    rows = {r.claim_id: r for r in grid._abg_rows(abg, pre, sigma=0.002, train_h=0.1, hours=48)}
    assert set(rows) == {"04-abg", "04-abg-others"}
    eq = rows["04-abg"]  # [-0.6, +0.2] pts lies inside +-1 pt, but the candidates ran at one schedule only
    assert (eq.holds, eq.lean, eq.reason) == ("inconclusive", "yes", "needs 2S")
    assert "(1.70, 1.10, 1.00)" in rows["04-abg-others"].we_measured
    assert math.isfinite(grid.ABG_MARGIN)


def test_with_the_candidates_at_2s_both_rows_read_the_ladder():
    idx = ["(1.20, 1.10, 1.15)", "(1.10, 1.20, 1.10)", "(1.70, 1.10, 1.00)"]

    def table(schedule):
        return pd.DataFrame({"paper_rule": [True, False, False], "acc": [0.60, 0.602, 0.57],
                             "diff_to_paper": [0.0, 0.002, -0.03],
                             "d": [None, _d(-0.002, 0.004, schedule), _d(0.03, 0.005, schedule)]}, index=idx)

    pre = (Precondition.check("seeds", 2.0, ">=", 2.0),)
    rows = {r.claim_id: r for r in grid._abg_rows(table(1.0), pre, 0.002, 0.1, 48, abg2=table(2.0))}
    assert rows["04-abg"].holds == "yes" and "2S" in rows["04-abg"].we_measured
    assert rows["04-abg-others"].holds == "yes"  # +3 pts at S and 2S: the paper's rule beats the depth-heavy one
