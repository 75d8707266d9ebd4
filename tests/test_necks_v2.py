"""04's neck ablation on testbed v2, the library half: pilot rows adopted by content key, fusion weights read back
(the study module itself is a leaf, exercised by the notebook's nbval run)."""

import pytest

from detdesign.results import ResultCache


def test_adopt_copies_only_valid_rows_the_target_lacks(tmp_path):
    src, dst = ResultCache(tmp_path / "a.json"), ResultCache(tmp_path / "b.json")
    src.put("k1", {"AP": 0.5})
    src.put("k2", {"AP": 0.6})
    dst.put("k2", {"AP": 0.7})
    assert dst.adopt(src, ["k1", "k2", "k3"]) == 1
    assert dst.get("k1")["AP"] == 0.5 and dst.get("k2")["AP"] == 0.7 and "k3" not in dst
    assert ResultCache(tmp_path / "b.json").get("k1")["AP"] == 0.5  # written to disk
    assert dst.adopt(src, ["k1"]) == 0


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
