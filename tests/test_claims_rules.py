"""The verdict rules of detdesign.claims.rules and the statistics behind them (detdesign.stats, seed noise)."""

import math

import numpy as np
import pytest

from detdesign import stats
from detdesign.claims import (
    Claim,
    Decision,
    Difference,
    Precondition,
    all_of,
    at_least,
    at_most,
    combine,
    combine_decisions,
    converged_by_doubling,
    decide_difference,
    decide_equivalence,
    decide_non_inferiority,
    decided,
    descriptive_if_unaffordable,
    inside,
    rank_outcome,
    share_outcome,
    sign_outcome,
    timing_outcome,
    verdict_text,
)
from detdesign.seed_noise import SeedNoiseTable


def D(diff, lo, hi, schedule=1.0, seeds=2):
    return Difference(diff, lo, hi, seeds, schedule)


# -- the schedule-robustness rule ----------------------------------------------------------------------------
def test_a_difference_measured_at_s_only_cannot_decide_but_keeps_its_lean():
    d = decide_difference(D(0.015, 0.012, 0.017))
    assert (d.holds, d.lean, d.reason) == ("inconclusive", "yes", "needs 2S")


def test_same_sign_2s_interval_clear_and_not_halved_decides():
    d = decide_difference([D(0.010, -0.002, 0.02), D(0.015, 0.005, 0.025, 2)])
    assert (d.holds, d.lean, d.reason) == ("yes", "yes", "")
    d = decide_difference([D(-0.036, -0.043, -0.030), D(-0.030, -0.040, -0.020, 2)])
    assert d.holds == "no"


def test_a_sign_flip_or_a_halving_is_schedule_dependent():
    flip = decide_difference([D(0.02, 0.01, 0.03), D(-0.02, -0.03, -0.01, 2)])
    assert (flip.holds, flip.lean, flip.reason) == ("schedule-dependent", "no", "schedule-dependent")
    assert "changed sign" in flip.detail
    halved = decide_difference([D(-0.05, -0.06, -0.04), D(-0.02, -0.03, -0.01, 2)])
    assert halved.holds == "schedule-dependent" and "shrank by more than half" in halved.detail
    kept_half = decide_difference([D(-0.05, -0.06, -0.04), D(-0.026, -0.036, -0.016, 2)])
    assert kept_half.holds == "no"


def test_same_sign_but_2s_interval_straddling_zero_is_inconclusive():
    d = decide_difference([D(0.01, 0.002, 0.018), D(0.012, -0.001, 0.025, 2)])
    assert (d.holds, d.reason) == ("inconclusive", "interval contains the threshold")


def test_a_threshold_other_than_zero_and_a_ladder_use_the_last_two_rungs():
    # relative to the threshold 0.2: 3S -> 9S is +0.15 -> +0.13 and the 9S interval lies above it
    d = decide_difference([D(0.1, 0.0, 0.2), D(0.35, 0.3, 0.4, 3), D(0.33, 0.28, 0.38, 9)], threshold=0.2)
    assert d.holds == "yes" and "9S" in d.detail
    # the first rungs do not count: 0.1 -> 0.35 crossed the threshold, the last two did not
    flip = decide_difference([D(0.35, 0.3, 0.4), D(0.1, 0.05, 0.15, 3)], threshold=0.2)
    assert flip.holds == "schedule-dependent"
    with pytest.raises(ValueError, match="at least twice"):
        decide_difference([D(0.1, 0.0, 0.2), D(0.1, 0.0, 0.2, 1.5)])
    with pytest.raises(TypeError, match="Difference"):
        decide_difference([0.1, 0.2])


def test_equivalence_and_non_inferiority():
    assert decide_equivalence([D(0.002, -0.004, 0.008), D(0.001, -0.005, 0.007, 2)], 0.01).holds == "yes"
    assert decide_equivalence([D(0.02, 0.015, 0.025), D(0.02, 0.012, 0.028, 2)], 0.01).holds == "no"
    assert decide_equivalence([D(0.005, -0.001, 0.011), D(0.012, 0.004, 0.02, 2)], 0.01).holds == \
        "schedule-dependent"
    assert decide_equivalence(D(0.0, -0.005, 0.005), 0.01).reason == "needs 2S"
    ni = decide_non_inferiority([D(-0.035, -0.046, -0.024), D(-0.03, -0.04, -0.02, 2)], 0.01)
    assert ni.holds == "no" and ni.lean == "no"
    with pytest.raises(ValueError, match="margin"):
        decide_equivalence(D(0, -1, 1), 0.0)


def test_an_unknown_seed_noise_gives_an_unbounded_interval_that_decides_nothing():
    d = Difference(0.01, -math.inf, math.inf, 1)
    assert sign_outcome(d.lo, d.hi) == "inconclusive"
    with pytest.raises(ValueError, match="lo <= hi"):
        Difference(0.01, 0.02, 0.0, 2)
    with pytest.raises(ValueError):
        Difference(float("nan"), 0, 1, 2)


# -- absolute rules, combination, timing, doubling -------------------------------------------------------------
def test_threshold_rules():
    assert at_least(0.9, 0.8) == "yes" and at_least(0.5, 0.7, partly=0.0) == "partly" and at_least(-1, 0.7, 0) == "no"
    assert at_least(float("nan"), 0.8) == "inconclusive"
    assert at_most(0.05, 0.1) == "yes" and at_most(0.15, 0.1, 0.2) == "partly" and at_most(0.3, 0.1, 0.2) == "no"
    assert inside(0.594, 0.569, 0.657, 0.615, 0.1) == "yes" and inside(0.36, 0.365, 0.481, 0.423, 0.1) == "partly"
    assert inside(0.9, 0.1, 0.2, 0.15, 0.1) == "no"
    assert share_outcome(13, 13) == "yes" and share_outcome(7, 13) == "partly" and share_outcome(2, 13) == "no"
    assert sign_outcome(0.1, 0.2) == "yes" and sign_outcome(-0.2, -0.1) == "no" and sign_outcome(-0.1, 0.1) == \
        "inconclusive"


def test_rank_and_combinations():
    assert rank_outcome([0.3, 0.4], [0.01, 0.001]) == "yes"
    assert rank_outcome([0.3, 0.05], [0.01, 0.6]) == "partly"
    assert rank_outcome([-0.3, 0.05], [0.01, 0.6]) == "no"
    assert rank_outcome([0.06, 0.08], [0.5, 0.4]) == "inconclusive"
    assert combine(["yes", "yes"]) == "yes" and combine(["no", "no"]) == "no"
    assert combine(["yes", "no"]) == "partly" and combine(["yes", "inconclusive"]) == "inconclusive"
    assert all_of(["yes", "no"]) == "no" and all_of(["yes", "inconclusive"]) == "inconclusive"
    assert timing_outcome(0.85, 1.12, 1.5) == "yes" and timing_outcome(1.6, 2.0, 1.5) == "no"
    assert timing_outcome(1.4, 1.6, 1.5) == "inconclusive"


def test_convergence_is_a_doubling_test():
    assert converged_by_doubling(0.12, None).reason == "needs 2S"
    assert converged_by_doubling(0.35, 0.355).holds == "yes"
    assert converged_by_doubling(0.35, 0.40).holds == "no"


# -- power gate ---------------------------------------------------------------------------------------------
def test_an_unaffordable_undecided_claim_is_descriptive_with_its_size():
    undecided = decide_difference([D(0.0024, -0.01, 0.015), D(0.002, -0.01, 0.014, 2)])
    d = descriptive_if_unaffordable(undecided, needed=350, have=2, unit="seeds", unit_hours=0.1, budget_hours=12)
    assert d.holds == "descriptive" and d.reason == "descriptive: needs 350 seeds for 80% power"
    cheap = descriptive_if_unaffordable(undecided, needed=6, have=2, unit="seeds", unit_hours=0.5, budget_hours=12)
    assert cheap.holds == "inconclusive" and "4 more" in cheap.detail
    never = descriptive_if_unaffordable(undecided, math.inf, 2, "seeds", 0.1, 12)
    assert never.holds == "descriptive" and "than any budget" in never.reason
    done = decided("yes")
    assert descriptive_if_unaffordable(done, 1000, 2, "seeds", 1, 1) is done


# -- the ledger row ---------------------------------------------------------------------------------------
def test_a_claim_unpacks_a_decision_and_a_failed_precondition_overrides_it():
    dec = decide_difference(D(0.015, 0.012, 0.017))
    c = Claim("x", "P", "says", "m", dec, "note")
    assert (c.holds, c.lean, c.reason) == ("inconclusive", "yes", "needs 2S") and "needs the same" in c.note
    bad = Precondition.check("detector learned classes (AP - floor)", 0.01, ">=", 0.2)
    c = Claim("x", "P", "says", "m", decided("yes"), preconditions=(bad,))
    assert c.holds == "inconclusive" and c.lean == "yes" and c.reason.startswith("precondition not met: detector")
    assert Claim("y", "P", "s", "m", "no").lean == "no"
    assert verdict_text("inconclusive", "no", "needs 2S") == "**inconclusive** (needs 2S; the measurement alone: no)"
    with pytest.raises(ValueError, match="reason must start"):
        Decision("inconclusive", "yes", "because")
    with pytest.raises(ValueError, match="kind"):
        Claim("z", "P", "s", "m", "yes", kind="goal")


# -- statistics -------------------------------------------------------------------------------------------
def test_seed_aware_interval_formula_and_difference_switches_to_hierarchical_at_four_seeds():
    lo, hi = stats.seed_aware_interval(0.0145, 0.0014, 0.0054, 2)
    half = 1.959964 * math.sqrt(2 * 0.0054 ** 2 / 2 + 0.0014 ** 2)
    assert lo == pytest.approx(0.0145 - half, abs=1e-6) and hi == pytest.approx(0.0145 + half, abs=1e-6)
    rng = np.random.default_rng(0)
    two = stats.difference([0.02, 0.01], 0.015 + rng.normal(0, 0.002, (2, 200)), sigma_seed=0.005)
    assert two.seeds == 2 and "pooled seed SD" in two.method and two.lo < 0.015 < two.hi
    per_seed = rng.normal(0.01, 0.005, 6)
    many = stats.difference(per_seed, per_seed[:, None] + rng.normal(0, 0.002, (6, 200)))
    assert "hierarchical" in many.method and many.lo < many.diff < many.hi
    assert stats.difference([0.01], np.zeros((1, 10))).hi == math.inf  # seed SD unknown


def test_paired_bootstrap_over_correctness_and_pooled_sd():
    rng = np.random.default_rng(1)
    a = rng.random((2, 500)) < 0.7
    b = rng.random((2, 500)) < 0.6
    point, boot = stats.paired_bootstrap(a, b, 100, seed=0)
    assert point.shape == (2,) and boot.shape == (2, 100)
    assert point == pytest.approx(a.mean(1) - b.mean(1))
    sd, dof = stats.pooled_sd([[1.0, 3.0], [2.0, 2.0, 5.0], [7.0]])
    assert dof == 3 and sd == pytest.approx(math.sqrt((2 + 6) / 3))
    assert math.isnan(stats.pooled_sd([[1.0]])[0])


def test_power_helpers():
    # 2 sigma^2 / n + SE^2 = (effect / 2.8)^2  ->  n = 2 * 0.0054^2 / ((0.0145 / 2.8)^2 - 0.0014^2)
    n = stats.seeds_for_power(0.0145, 0.0054, 0.0014)
    assert n == 3 and stats.seeds_for_power(0.001, 0.0054, 0.0014) == math.inf
    assert stats.seeds_for_power(0.0024, 0.011, 0.0, contrast=2) > 300
    assert stats.kendall_networks_for_power(0.45) == pytest.approx(21, abs=3)
    assert stats.units_for_power(-0.12, 0.28, 12) > 400 and stats.units_for_power(0.0, 0.1, 5) == math.inf
    assert stats.partial_kendall([1, 2, 3, 4, 5], [1, 2, 3, 5, 4], [5, 4, 3, 2, 1]) != stats.partial_kendall(
        [1, 2, 3, 4, 5], [1, 2, 3, 5, 4], [1, 3, 2, 5, 4])


def test_seed_noise_table_updates_groups_and_pools(tmp_path):
    t = SeedNoiseTable(tmp_path / "seed_noise.csv")
    assert math.isnan(t.pooled("AP").sd)
    t.update("AP", {"net a": {0: 0.10, 1: 0.11}, "net b": {0: 0.20}}, "00c")
    t.update("AP", {"net c": {0: 0.30, 1: 0.32}}, "04")
    t.update("AP", {"net a": {0: 0.10, 1: 0.12}}, "00c")  # a group's rows are replaced, not added
    n = t.pooled("AP")
    assert (n.groups, n.dof) == (2, 2) and n.sd == pytest.approx(math.sqrt((0.0002 + 0.0002) / 2))
    assert len(t.read()) == 4 and "pooled seed SD" in n.text()
    with pytest.raises(ValueError, match="one non-empty line"):
        t.update("AP", {"SuperConv(3,8)\nSuperRes(...)": {0: 0.1, 1: 0.2}}, "03")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        SeedNoiseTable(tmp_path / "bad.csv").read()


def test_combined_rows_name_their_undecided_part():
    yes, no = decided("yes"), decided("no")
    assert combine_decisions([yes, no]).holds == "partly" and combine_decisions([yes, no], need_all=True).holds == "no"
    needs = decide_difference(D(0.01, 0.005, 0.015))
    desc = Decision("descriptive", "inconclusive", "descriptive: needs 2,000 seeds for 80% power")
    row = combine_decisions([needs, desc, yes], need_all=True)
    assert row.holds == "descriptive" and row.reason.startswith("descriptive")
    flip = Decision("schedule-dependent", "no", "schedule-dependent")
    assert combine_decisions([needs, flip]).holds == "schedule-dependent"
    both = combine_decisions([needs, yes])
    assert (both.holds, both.lean, both.reason) == ("inconclusive", "yes", "needs 2S")
    with pytest.raises(TypeError):
        combine_decisions([])
