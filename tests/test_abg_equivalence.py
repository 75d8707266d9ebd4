"""04-abg recast as equivalence (the paper's rule within 1 point of the best other candidate) and its power gate."""

import pytest

from detdesign.claims import Decision, Difference
from detdesign.claims.power import equivalence_gate


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
