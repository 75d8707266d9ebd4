"""04's neck ablation on testbed v2: pilot rows adopted by content key, S / 2S ladders, the rows' verdicts."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from detdesign import Run
from detdesign.profiles import profile
from detdesign.results import ResultCache
from detdesign.studies import necks_v2
from detdesign.studies import testbed_v2 as pilot

FULL = profile("full")


def test_adopt_copies_only_valid_rows_the_target_lacks(tmp_path):
    src, dst = ResultCache(tmp_path / "a.json"), ResultCache(tmp_path / "b.json")
    src.put("k1", {"AP": 0.5})
    src.put("k2", {"AP": 0.6})
    dst.put("k2", {"AP": 0.7})
    assert dst.adopt(src, ["k1", "k2", "k3"]) == 1
    assert dst.get("k1")["AP"] == 0.5 and dst.get("k2")["AP"] == 0.7 and "k3" not in dst
    assert ResultCache(tmp_path / "b.json").get("k1")["AP"] == 0.5  # written to disk
    assert dst.adopt(src, ["k1"]) == 0


def test_the_s_rungs_of_the_pilots_necks_carry_the_pilots_keys():
    run = Run.from_env("full", seed=0)
    E, T = FULL.effdet, FULL.testbed_v2
    data = necks_v2.splits(T)
    ours = {(n, s): j.key(data) for n, s, k, j in necks_v2.jobs(run, E, T) if k == 1}
    theirs = {(n, s): j.key(data) for v, n, s, j in pilot.jobs(run, T) if v == "v2-4c-256"}
    assert set(theirs) < set(ours) and all(ours[k] == theirs[k] for k in theirs)
    sched = [k for *_, k, _ in necks_v2.jobs(run, E, T)]
    assert sched == sorted(sched) and sched.count(2) == len(E.v2_doubled) * len(E.v2_seeds)


def test_a_doubled_neck_must_be_trained_at_s():
    E = dataclasses.replace(FULL.effdet, v2_doubled=("BiFPN sum",))
    with pytest.raises(ValueError, match="v2_doubled names necks"):
        necks_v2.jobs(Run.from_env("smoke", seed=0), E, FULL.testbed_v2)


def _trained(gap_s: float, gap_2s: float, noise: float = 0.004) -> pd.DataFrame:
    """Fake rows: FPN at 0.45 (S) / 0.55 (2S), BiFPN fast ``gap`` above, softmax equal to fast; 2 seeds."""
    rng = np.random.default_rng(0)
    rows = []
    for k, gap in ((1, gap_s), (2, gap_2s)):
        for seed in (0, 1):
            base = 0.45 + 0.1 * (k - 1) + noise * (seed - 0.5)
            for neck, ap in (("FPN matched", base), ("BiFPN fast", base + gap), ("BiFPN softmax", base + gap)):
                if k == 2 and neck == "BiFPN softmax":
                    continue
                boot = ap + rng.normal(0, 0.002, 50)
                rows.append({"neck": neck, "seed": seed, "schedule": k, "AP": ap, "AP_boot": list(boot),
                             "AP50": ap, "APs": ap, "APm": ap, "APl": ap, "train_seconds": 600.0 * k})
    return pd.DataFrame(rows)


def _lat():
    samples = {"BiFPN fast": [1.0, 1.01, 0.99] * 10, "BiFPN softmax": [1.1, 1.11, 1.09] * 10}
    return pd.DataFrame({"neck_latency_samples": samples})


@pytest.mark.parametrize("gap_s, gap_2s, want", [(0.10, 0.12, "yes"), (-0.10, -0.12, "no"), (0.10, 0.01, None)])
def test_the_graph_row_decides_on_the_ladder(gap_s, gap_2s, want):
    trained = _trained(gap_s, gap_2s)
    sig = {1: 0.004, 2: 0.004}
    lad = necks_v2.ladders(trained, sig)
    assert [d.schedule for d in lad["BiFPN fast - FPN matched"]] == [1, 2]
    assert [d.schedule for d in lad["BiFPN fast - BiFPN softmax"]] == [1]
    rows = necks_v2.claims(trained, lad, _lat(), sig, floor=0.265, shares={"P3": 0.3, "P4": 0.4, "P5": 0.3},
                           hours=48.0)
    graph = {r.claim_id: r for r in rows}["04-bifpn-vs-fpn"]
    if want is None:  # the difference halved at 2S: not decided on this ladder
        assert graph.holds not in ("yes", "no")
    else:
        assert graph.holds == want


def test_a_neck_below_the_no_class_floor_fails_the_precondition():
    pre = necks_v2.preconditions(_trained(0.1, 0.1), floor=0.44, shares={"P3": 0.3, "P4": 0.05})
    assert [p.met for p in pre] == [True, False, False]


def test_fusion_weights_reads_raw_and_ema_and_flags_dead_inputs():
    import torch

    from detdesign.detection.ablation import fusion_weights

    w = torch.tensor([1.0, -0.2, 0.5])
    state = {"model": {"neck.layers.0.fuse.0.weight": w, "neck.layers.0.conv.weight": torch.ones(3)},
             "ema": {"n_averaged": torch.tensor(5), "module.neck.layers.0.fuse.0.weight": w * 2}}
    t = fusion_weights(state)
    assert list(t.groupby("weights").size()) == [3, 3]  # the conv weight is not a fusion weight
    raw = t[t["weights"] == "model"]
    assert raw["dead (fast)"].tolist() == [False, True, False]
    assert raw["fast share"].tolist() == pytest.approx([1 / 1.5, 0.0, 0.5 / 1.5], abs=1e-3)
    assert set(t["node"]) == {"neck.layers.0.fuse.0"}


def test_the_pilots_runs_keep_the_pilots_seed_group_and_are_not_counted_twice():
    pilot = necks_v2.group_name("FPN matched", 1, "v2-4c-256", ("FPN matched",))
    assert pilot == "FPN matched on v2-4c-256 (00c pilot)"
    assert necks_v2.group_name("BiFPN fast", 1, "v2-4c-256", ("FPN matched",)) == "BiFPN fast on v2-4c-256 (04)"
    assert necks_v2.group_name("FPN matched", 2, "v2-4c-256", ("FPN matched",)).endswith("(04)")
