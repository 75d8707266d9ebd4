"""TinyNAS's named-dict structures: the released MAE-DET backbones load with their published sizes, the format
round-trips through ZenNAS strings (L units = L/2 sub-layers), and the official mutator's rules are checked."""

import pytest

from detdesign.arch.maedet_released import PUBLISHED_PARAMS_M, RELEASED, released
from detdesign.arch.tinynas_format import (
    TinyBlock,
    format_tinynas,
    from_zen,
    maedet_violations,
    parse_tinynas,
    tinynas_layers,
    to_zen,
)
from detdesign.detection.backbone import Backbone
from detdesign.measure import count_params
from detdesign.proxies import compute


@pytest.mark.parametrize("name", list(RELEASED))
def test_released_backbones_load_with_the_published_parameter_counts_and_score(name):
    blocks = released(name)
    backbone = Backbone(to_zen(blocks))
    assert count_params(backbone) / 1e6 == pytest.approx(PUBLISHED_PARAMS_M[name], abs=0.06)
    from detdesign.arch import ZenNet

    score = compute("maedet_entropy", ZenNet(to_zen(blocks), num_classes=1), resolution=64, batch_size=2)
    assert score.value > 0


def test_release_file_text_round_trips():
    text = format_tinynas(released("maedet_s"))
    assert parse_tinynas(text) == released("maedet_s")
    assert from_zen(to_zen(released("maedet_m"))) == released("maedet_m")
    assert tinynas_layers(released("maedet_s")) == 1 + 3 * (2 + 4 + 10 + 10)


def test_odd_units_have_no_zennas_string_and_bad_dicts_are_named():
    odd = [TinyBlock("ConvKXBNRELU", 3, 32, 2, 3), TinyBlock("SuperResK1KXK1", 32, 64, 2, 3, 3, 32)]
    with pytest.raises(ValueError, match="two units"):
        to_zen(odd)
    with pytest.raises(ValueError, match="missing \\['btn'\\]"):
        parse_tinynas([{"class": "SuperResK1KXK1", "in": 3, "out": 8, "s": 2, "k": 3, "L": 2}])
    with pytest.raises(ValueError, match="differs from the previous"):
        parse_tinynas([RELEASED["maedet_s"][0], RELEASED["maedet_s"][2]])
    with pytest.raises(ValueError):
        parse_tinynas("__import__('os').system('true')")  # a literal parser: nothing is executed


def _chain(*rows):
    return parse_tinynas([{"class": "ConvKXBNRELU", "in": 3, "out": 32, "s": 2, "k": 3}] + [
        {"class": "SuperResK1KXK1", "in": i, "out": o, "s": 2, "k": k, "L": L, "btn": b} for i, o, k, L, b in rows])


@pytest.mark.parametrize("rows, rule", [
    ([(32, 48, 3, 2, 32), (48, 256, 3, 2, 64)], "in <= out <= 4 in"),      # 256 > 4 * 48
    ([(32, 64, 3, 2, 32), (64, 48, 3, 2, 24)], "out 64 > next out 48"),    # widths must not shrink
    ([(32, 64, 3, 2, 4), (64, 128, 3, 2, 64)], "btn >= out/10"),              # btn < out / 10
    ([(32, 64, 3, 4, 32), (64, 128, 3, 2, 64)], "at most 3 units"),        # C2 deeper than 3 units
    ([(32, 64, 7, 2, 32), (64, 128, 3, 2, 64)], "kernel 7"),
    ([(32, 64, 3, 2, 32), (64, 256, 3, 2, 64), (256, 2056, 3, 2, 256)], "up to 2048"),
])
def test_every_rule_of_the_official_mutator_is_checked(rows, rule):
    assert any(rule in v for v in maedet_violations(_chain(*rows)))


def test_a_structure_within_the_rules_passes_and_the_released_ones_are_not_all_reachable():
    ok = _chain((32, 64, 3, 2, 32), (64, 128, 5, 4, 32), (128, 256, 3, 6, 64), (256, 512, 5, 4, 64))
    assert maedet_violations(ok, budget_layers=91) == []
    assert any("exceed the budget" in v for v in maedet_violations(ok, budget_layers=40))
    # what the release itself breaks under the current mutator's rules (a finding, reported in notebook 03)
    assert any("4 in" in v for v in maedet_violations(released("maedet_s")))  # 48 -> 272
    assert any("up to 2048" in v for v in maedet_violations(released("maedet_l")))  # out 2400


def _diff(a, b):
    return [(i, f) for i, (x, y) in enumerate(zip(a, b)) for f in ("cout", "k", "btn", "L") if getattr(x, f) !=
            getattr(y, f)]


def test_the_official_mutator_keeps_its_invariants_and_never_returns_its_parent():
    import random

    from detdesign.search.maedet_space import R50_LAYER_BUDGET, MaeDetSpace, mutate

    start = _chain((32, 64, 3, 2, 32), (64, 128, 3, 2, 32), (128, 256, 3, 2, 32), (256, 512, 3, 2, 64))
    space = MaeDetSpace(budget_layers=R50_LAYER_BUDGET, image_size=480, blocks_per_child=1)
    rng, cur = random.Random(0), start
    for step in range(400):
        minor = step >= 200
        child = mutate(cur, rng, space, minor=minor)
        assert child != cur
        changed = _diff(cur, child)
        if minor:  # the fine phase changes only widths
            assert {f for _, f in changed} <= {"cout", "btn"}
        for i, f in changed:
            if f == "k":
                assert child[i].k != cur[i].k and child[i].k in space.kernels
        rules = maedet_violations(child, budget_layers=R50_LAYER_BUDGET)
        assert not [r for r in rules if "4 in" not in r and "next out / 4" not in r], rules
        cur = child if rng.random() < 0.5 else cur


def test_the_official_start_and_resnet50_budget():
    from detdesign.search.maedet_space import OFFICIAL_START, R50_LAYER_BUDGET, RESNET50_LIKE

    assert tinynas_layers(RESNET50_LIKE) == 49 and round(1.86 * 49) == R50_LAYER_BUDGET
    assert tinynas_layers(OFFICIAL_START) == 1 + 3 * 5


def test_tinynas_text_builds_networks_unit_by_unit_including_odd_depths():
    from dataclasses import replace

    from detdesign.arch import ZenNet
    from detdesign.arch.zen_units import expand
    from detdesign.search.maedet_space import RESNET50_LIKE
    from detdesign.search.space import cost

    even = [RESNET50_LIKE[0], *(replace(b, L=4) for b in RESNET50_LIKE[1:])]
    for z, t in zip(ZenNet(to_zen(even), num_classes=1).blocks_spec, even):
        assert expand(z) == expand(t)  # L units = L/2 ZenNAS sub-layers, unit for unit
    entropy = [compute("maedet_entropy", Backbone(s), resolution=64, batch_size=2).value
               for s in (to_zen(even), format_tinynas(even))]
    assert entropy[0] == entropy[1]
    r50 = ZenNet(format_tinynas(RESNET50_LIKE), num_classes=1)  # 3/4/6/3 units: L = 3 is odd
    assert count_params(r50) == r50.analytic_params()
    assert (count_params(r50) - 2048 - 1) / 1e6 == pytest.approx(23.5, abs=0.05)  # ResNet-50's backbone
    assert parse_tinynas(r50.structure) == RESNET50_LIKE  # the network keeps the format it came in
    assert cost(format_tinynas(RESNET50_LIKE), 224).layers == tinynas_layers(RESNET50_LIKE) == 49
    levels = Backbone(format_tinynas(RESNET50_LIKE))
    assert levels.strides == [2, 4, 8, 16, 32] and levels.channels[2:] == [512, 1024, 2048]


def test_the_maedet_space_drives_the_evolutionary_search_in_tinynas_text():
    import random

    from detdesign.search import Budget, Objective, SearchConfig, evolve
    from detdesign.search.maedet_space import OFFICIAL_START, R50_LAYER_BUDGET, MaeDetSpace

    space = MaeDetSpace(budget_layers=R50_LAYER_BUDGET, image_size=224)
    rng, cur, odd = random.Random(0), format_tinynas(OFFICIAL_START), 0
    for step in range(60):
        child = space.mutate(cur, rng, coarse=step < 30)
        assert format_tinynas(parse_tinynas(child)) == child and child != cur
        odd += any(b.L % 2 for b in parse_tinynas(child) if b.kind == "k1kxk1")
        cur = child
    assert odd > 0  # the official L mutation (+-1, +-2 units) reaches depths no ZenNAS string has
    assert space.mutate(to_zen(released("maedet_s")), rng).startswith("{")  # a ZenNAS start is accepted
    res = evolve(format_tinynas(OFFICIAL_START), Objective("params", resolution=64, batch_size=2),
                 Budget(layers=R50_LAYER_BUDGET, resolution=224), SearchConfig(population=3, iterations=4, space=space))
    assert res.scored >= 2 and parse_tinynas(res.best)
