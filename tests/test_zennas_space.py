"""Zen-NAS's CIFAR search space XXBL: candidates, mutation, split rule, budget counts, and a seeded search."""

import itertools
import random

import pytest

from detdesign.arch import ZenNet
from detdesign.arch.zen_format import ZenBlock, format_zen, parse_zen
from detdesign.search import CIFAR_INITIAL, Budget, Objective, SearchConfig, XXBLSpace, cost, evolve
from detdesign.search.zennas_space import WIDTH_FACTORS, candidates, num_layers, split_deep, widths

# the official CIFAR budget (Zen_NAS_cifar_params1M.sh): 1M params with the 10-way classifier, 18 sub-layers
CIFAR_BUDGET = Budget(params=1e6, sub_layers=18, resolution=32, classes=10)


def test_initial_structure_round_trips_and_meets_the_official_budget():
    assert format_zen(parse_zen(CIFAR_INITIAL)) == CIFAR_INITIAL
    c = cost(CIFAR_INITIAL, 32, classes=10)
    assert c.sub_layers == num_layers(CIFAR_INITIAL) == 6
    assert c.within(CIFAR_BUDGET)
    # the classifier is counted: 128 * 10 weights + 10 biases on top of the backbone
    assert c.params - cost(CIFAR_INITIAL, 32).params == 128 * 10 + 10
    assert ZenNet(CIFAR_INITIAL, num_classes=10).analytic_params() == c.params


def test_widths_follow_the_official_factor_list():
    assert widths(64) == sorted({max(8, round(64 * f / 8) * 8) for f in WIDTH_FACTORS}, reverse=True)
    assert min(widths(8)) == 8 and max(widths(2048)) == 2048  # clipped to [8, 2048]
    assert all(w % 8 == 0 for c in (8, 24, 100, 1000) for w in widths(c))


def test_candidates_of_a_residual_block_span_both_types_three_kernels_widths_and_depths():
    b = parse_zen("SuperResK3K3(16,32,2,16,1)")[0]
    cands = candidates(b)
    depths = {c.sub_layers for c in cands}
    assert depths == {1, 2, 3}  # 1 + {0, 1, 2}; 0 and -1 are dropped
    assert {(c.kind, c.kernel) for c in cands} == {(k, x) for k in ("kxkx", "k1kxk1") for x in (3, 5, 7)}
    assert len(cands) == 6 * len(widths(32)) * 3 * len(widths(16))
    assert all(c.stride == 2 and c.in_channels == 16 for c in cands)
    assert all(c.kernel2 == c.kernel for c in cands if c.kind == "kxkx")
    stem = parse_zen("SuperConvK3BNRELU(3,8,1,1)")[0]
    assert [c.out_channels for c in candidates(stem)] == widths(8)
    assert all(c.kernel == 3 and c.stride == 1 for c in candidates(stem))


def test_candidates_reject_blocks_outside_the_space():
    idw = parse_zen("SuperResIDWE6K3(8,32,2,8,1)")[0]
    with pytest.raises(ValueError, match="XXBL space has no SuperResIDWE6K3"):
        candidates(idw)


def test_split_follows_the_official_rule():
    deep = ZenBlock("kxkx", 16, 32, 2, 7, 3, 16, kernel2=3)
    a, b = split_deep([deep])
    assert (a.sub_layers, a.stride, a.in_channels) == (3, 2, 16)
    assert (b.sub_layers, b.stride, b.in_channels, b.out_channels) == (3, 1, 32, 32)  # 6 - 3, not 7 - 3
    assert split_deep([ZenBlock("kxkx", 16, 32, 2, 5, 3, 16, kernel2=3)])[0].sub_layers == 5


def test_mutation_changes_at_most_the_replaced_blocks_and_keeps_a_valid_chain():
    space, rng = XXBLSpace(), random.Random(0)
    parent_blocks = parse_zen(CIFAR_INITIAL)
    for population in (1, 50):
        for _ in range(200):
            child = parse_zen(space.mutate(CIFAR_INITIAL, rng, population=population))
            assert child[0].in_channels == 3
            assert all(b.in_channels == a.out_channels for a, b in itertools.pairwise(child))
            assert all(b.sub_layers < 6 for b in child if b.kind != "conv")
            assert [b.stride for b in child if b.stride > 1] == [b.stride for b in parent_blocks if b.stride > 1]
            if len(child) == len(parent_blocks):
                changed = sum((a.kind, a.out_channels, a.sub_layers, a.kernel, a.bottleneck)
                              != (b.kind, b.out_channels, b.sub_layers, b.kernel, b.bottleneck)
                              for a, b in zip(child, parent_blocks))
                assert changed <= (1 if population <= 10 else 2)


def test_mutation_is_seeded():
    a = [XXBLSpace().mutate(CIFAR_INITIAL, random.Random(3), population=20) for _ in range(2)]
    assert a[0] == a[1]
    with pytest.raises(ValueError, match="replaces >= 1"):
        XXBLSpace(replaces=0)


def test_search_in_the_xxbl_space_stays_within_the_official_budget():
    def objective(s):  # a cheap deterministic objective: parameters (the search then fills the budget)
        return float(cost(s, 32, classes=10).params)

    cfg = SearchConfig(population=8, iterations=40, seed=1, space=XXBLSpace())
    r1 = evolve(CIFAR_INITIAL, objective, CIFAR_BUDGET, cfg, desc="xxbl")
    r2 = evolve(CIFAR_INITIAL, objective, CIFAR_BUDGET, cfg, desc="xxbl")
    assert r1.best == r2.best and r1.score == r2.score
    assert cost(r1.best, 32, classes=10).within(CIFAR_BUDGET)
    assert r1.score > objective(CIFAR_INITIAL)  # the search moved towards its objective


def test_search_config_rejects_a_space_without_mutate():
    with pytest.raises(TypeError, match="mutate"):
        SearchConfig(space="xxbl")


def test_objective_can_score_without_residual_links():
    plain = Objective("params", resolution=32, batch_size=4, no_reslink=True)
    res = Objective("params", resolution=32, batch_size=4)
    # the projection shortcuts carry parameters, so the plain net has fewer
    assert plain(CIFAR_INITIAL) < res(CIFAR_INITIAL)
