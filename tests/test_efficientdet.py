"""EfficientDet D0-D7x built from this package: sizes against the official implementation, the BiFPN graph
and its per-use first-layer projections, TF-"same" pooling, the torchvision weight loader, and D0 end to end."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from detdesign.arch.efficientnet import efficientnet, load_torchvision_weights
from detdesign.detection import (
    DetectorConfig,
    EfficientDetSpec,
    HeadConfig,
    NeckConfig,
    TrainConfig,
    build_detector,
    build_efficientdet,
    evaluate,
    fit,
    preprocess,
)
from detdesign.detection.efficientdet import EfficientDetNet, Node, fpn_topology, max_pool_same, resolve_config
from detdesign.detection.head import norm_groups
from detdesign.measure import count_flops

# official implementation's counts (params M, GMACs at the official input, 90 classes)
OFFICIAL = {"d0": (3.880, 2.49), "d1": (6.626, 6.00)}


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_efficientdet_size_matches_the_official_counts(name):
    cfg = resolve_config(name)
    with torch.device("meta"):
        net = EfficientDetNet(cfg)
    params = sum(p.numel() for p in net.parameters()) / 1e6
    gmacs = count_flops(net, (1, 3, cfg.input_size, cfg.input_size)).macs / 1e9
    p, g = OFFICIAL[name]
    assert params == pytest.approx(p, rel=0.01) and gmacs == pytest.approx(g, rel=0.02)


def test_d7x_has_six_levels_and_d7_a_larger_anchor():
    with torch.device("meta"):
        x = EfficientDetNet(resolve_config("d7x"))
    assert x.pyramid.levels == [3, 4, 5, 6, 7, 8] and len(x.class_net.bns[0]) == 6
    width = lambda m: (m.anchors[:, 2] - m.anchors[:, 0])  # noqa: E731
    d0 = build_efficientdet("d0", num_classes=3, image_size=128)
    d7 = build_efficientdet("d7", num_classes=3, image_size=128)
    assert len(d0.anchors) == 9 * sum((128 // 2 ** lv) ** 2 for lv in range(3, 8))  # 9 anchors per location
    assert torch.allclose(width(d7), 1.25 * width(d0))  # anchor scale 5 vs 4


def test_bifpn_graph_is_the_official_node_list_and_fpn_its_top_down_half():
    # inputs index [P3, P4, P5, P6, P7, node 0, ...]: P6'=(P6,P7), P5'=(P5,P6'), ..., P7''=(P7,P6'')
    assert fpn_topology("bifpn", 3, 7) == (
        Node(6, (3, 4)), Node(5, (2, 5)), Node(4, (1, 6)), Node(3, (0, 7)),
        Node(4, (1, 7, 8)), Node(5, (2, 6, 9)), Node(6, (3, 5, 10)), Node(7, (4, 11)))
    assert fpn_topology("fpn", 3, 7) == (Node(7, (4,)), Node(6, (3, 5)), Node(5, (2, 6)), Node(4, (1, 7)),
                                         Node(3, (0, 8)))
    with pytest.raises(ValueError, match="topology"):
        fpn_topology("panet", 3, 7)


def test_first_layer_projects_every_use_of_a_narrower_backbone_feature():
    with torch.device("meta"):
        net = EfficientDetNet(resolve_config("d0"))
    first, second = net.pyramid.layers[0], net.pyramid.layers[1]
    uses = [(node.level, i) for node, res in zip(first.nodes, first.resample) for r, i in zip(res, node.inputs)
            if r.proj is not None]
    assert sorted(i for _, i in uses) == [0, 1, 1, 2, 2]  # C3 once, C4 and C5 twice each (official)
    assert all(r.proj is None for res in second.resample for r in res)
    sep = first.conv[0][1]
    assert sep[0].bias is None and sep[1].bias is not None  # pointwise bias kept
    bn = first.conv[0][2]
    assert bn.eps == 1e-3 and bn.momentum == 0.01


def test_max_pool_uses_tensorflow_same_padding():
    x = torch.arange(36.0).view(1, 1, 6, 6)
    ref = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)  # TF pads bottom/right for even sizes
    assert torch.equal(max_pool_same(x), ref) and max_pool_same(x).shape[-1] == 3
    odd = torch.randn(1, 2, 7, 7)
    assert max_pool_same(odd).shape[-2:] == (4, 4)


def test_torchvision_weights_load_into_ours_with_identical_logits():
    torch.manual_seed(0)
    tv = torchvision.models.efficientnet_b0(weights=None).eval()
    ours = load_torchvision_weights(efficientnet("b0"), tv).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(tv(x), ours(x), atol=1e-5)
    with pytest.raises(ValueError, match="not the same variant"):
        load_torchvision_weights(efficientnet("b1"), tv)


def test_d0_trains_and_evaluates_end_to_end_at_a_tiny_input(root, tmp_path):
    from detdesign.data import load_bccd

    torch.set_num_threads(1)
    data = preprocess(load_bccd("train"), 128).select(slice(0, 4))
    spec = EfficientDetSpec("d0", num_classes=3, image_size=128)
    f = fit(spec, TrainConfig(epochs=1, batch_size=2, warmup_iters=1, max_iters_per_epoch=2), data, tmp_path,
            build=lambda s, seed=0: build_efficientdet(s, seed=seed))
    assert f.seconds > 0 and f.history["loss"].notna().all()
    metrics = evaluate(f.model, data)
    assert 0.0 <= metrics["AP"] <= 1.0
    with pytest.raises(ValueError, match="multiple of the largest stride 128"):
        EfficientDetSpec("d0", num_classes=3, image_size=100)


def test_a_detector_job_trains_an_efficientdet_and_keeps_paired_resamples(root, tmp_path):
    from detdesign.data import load_bccd
    from detdesign.detection.experiment import DetectorJob, train_evaluate

    torch.set_num_threads(1)
    data = preprocess(load_bccd("train"), 128).select(slice(0, 4))
    splits = {"train": data, "test": data}
    tcfg = TrainConfig(epochs=1, batch_size=2, warmup_iters=1, max_iters_per_epoch=1)
    job = DetectorJob(EfficientDetSpec("d0", num_classes=3, image_size=128), tcfg, bootstrap=5, keep_boot=True)
    plain = DetectorJob(job.cfg, tcfg, bootstrap=5)
    assert "AP_boot" in job.fields() and "AP_boot" not in plain.fields()
    assert job.key(splits) != plain.key(splits)  # the published keys (no keep_boot) are unchanged
    row = train_evaluate(job, splits, tmp_path)
    assert len(row["AP_boot"]) == 5 and all(0.0 <= v <= 1.0 for v in row["AP_boot"])
    assert row["AP_q025"] == pytest.approx(float(np.quantile(row["AP_boot"], 0.025)), abs=1e-5)


def test_fcos_head_accepts_any_width():
    assert norm_groups(88) == 11 and norm_groups(64) == 16 and norm_groups(7) == 7
    det = build_detector(DetectorConfig(image_size=128, neck=NeckConfig(channels=88), head=HeadConfig(channels=88)))
    out = det(torch.zeros(1, 3, 128, 128, dtype=torch.uint8))
    assert out[0][0].shape[1] == 3


def test_fpn_and_bifpn_necks_differ_only_in_their_graph():
    from detdesign.detection import create_neck

    chans = [16, 32, 64, 128, 256]
    necks = {k: create_neck(NeckConfig(kind=k, channels=64, repeats=2, extra_levels=2), chans)
             for k in ("effdet-fpn", "effdet-bifpn")}
    layer_types = {k: {type(m).__name__ for m in n.layers[0].conv[0].modules()} for k, n in necks.items()}
    assert layer_types["effdet-fpn"] == layer_types["effdet-bifpn"]  # one fusion layer (swish, sep-conv, BN)
    assert [len(n.layers[0].nodes) for n in necks.values()] == [5, 8]
    feats = [torch.randn(1, c, 128 // 2 ** i, 128 // 2 ** i) for i, c in enumerate(chans, start=1)]
    for n in necks.values():
        n.eval()  # P7 of a 128-px input is 1x1: BN needs eval mode at batch 1
        assert [tuple(p.shape) for p in n(feats)] == [(1, 64, 128 // 2 ** lv, 128 // 2 ** lv) for lv in range(3, 8)]
