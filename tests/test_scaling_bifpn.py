import math

import pytest
import torch
import torchvision

from detdesign.arch.efficientnet import COEFFICIENTS, config, efficientnet, round_filters, round_repeats
from detdesign.detection import DetectorConfig, NeckConfig, build_detector
from detdesign.detection.bifpn import EPS, Fuse, bifpn_topology, output_indices
from detdesign.measure import count_params
from detdesign.scaling import Compound, compare, efficientdet_config, efficientdet_config_from_phi, grid, scale


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_b0_has_the_official_parameter_count():
    assert count_params(efficientnet("b0", num_classes=1000)) == 5_288_548


@pytest.mark.parametrize("name", list(COEFFICIENTS))
def test_b0_to_b7_match_torchvision(name):
    with torch.device("meta"):
        ours = efficientnet(name)
        ref = getattr(torchvision.models, f"efficientnet_{name}")()
    assert count_params(ours) == count_params(ref)


def test_total_repeats_and_rounding():
    totals = [sum(len(s) for s in efficientnet(n, 10).stages) for n in ("b0", "b7")]
    assert totals == [16, 55]
    assert round_filters(32, 1.0) == 32 and round_filters(32, 1.1) == 32 and round_filters(40, 1.1) == 48
    assert round_filters(1280, 2.0) == 2560 and round_filters(16, 0.5) == 8
    assert round_repeats(3, 1.1) == 4 and round_repeats(1, 3.1) == 4


def test_efficientnet_forward_and_bad_input():
    net = efficientnet((0.5, 0.5, 32), num_classes=10, stem_stride=1).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="unknown EfficientNet"):
        config("b9")
    with pytest.raises(ValueError, match="coefficients"):
        config((1.0, 1.0))
    with pytest.raises(ValueError, match="width and depth"):
        config((0.0, 1.0, 224))


def test_compound_scaling_constraint_and_grid():
    c = Compound()
    assert c.flops_factor == pytest.approx(1.2 * 1.1 ** 2 * 1.15 ** 2)
    s = scale(config("b0"), 2, c)
    assert (s.depth, s.width, s.resolution) == pytest.approx((1.44, 1.21, round(224 * 1.3225)))
    g = grid(tolerance=0.1)
    assert ((g.flops_factor - 2).abs() <= 0.1).all() and (g[["alpha", "beta", "gamma"]] >= 1).all().all()
    assert ((g.alpha == 1.2) & (g.beta == 1.1) & (g.gamma == 1.15)).any()
    with pytest.raises(ValueError, match=">= 1"):
        Compound(alpha=0.9)


def test_efficientdet_table_and_formulas():
    d0 = efficientdet_config("D0")
    assert (d0.input_size, d0.backbone, d0.bifpn_width, d0.bifpn_layers, d0.head_layers) == (512, "b0", 64, 3, 3)
    assert efficientdet_config("d7x").backbone == "b7" and efficientdet_config("d6").fusion == "sum"
    f = efficientdet_config_from_phi(3)
    assert (f.input_size, f.bifpn_width, f.bifpn_layers, f.head_layers) == (896, 160, 6, 4)
    assert efficientdet_config_from_phi(1).bifpn_width == round(64 * 1.35 / 8) * 8
    cmp = compare()
    dev = set(cmp[cmp.deviates].model)
    assert {"d0", "d1", "d3"}.isdisjoint(dev) and {"d5", "d6", "d7"} <= dev
    with pytest.raises(ValueError, match="unknown EfficientDet"):
        efficientdet_config("d8")
    with pytest.raises(ValueError, match="phi"):
        efficientdet_config_from_phi(-1)


def test_bifpn_topology_is_the_papers_graph():
    nodes = bifpn_topology(3, 7)
    assert [n.level for n in nodes] == [6, 5, 4, 3, 4, 5, 6, 7]
    assert [len(n.inputs) for n in nodes] == [2, 2, 2, 2, 3, 3, 3, 2]
    assert output_indices(nodes, 3, 7) == [8, 9, 10, 11, 12]
    with pytest.raises(ValueError, match="two levels"):
        bifpn_topology(3, 3)


def test_fusion_modes():
    xs = [torch.full((1, 1, 2, 2), v) for v in (1.0, 3.0)]
    assert torch.allclose(Fuse(2, "sum")(xs), torch.full((1, 1, 2, 2), 4.0))
    assert torch.allclose(Fuse(2, "softmax")(xs), torch.full((1, 1, 2, 2), 2.0))
    fast = Fuse(2, "fast")
    assert torch.allclose(fast(xs), torch.full((1, 1, 2, 2), 4.0 / (2 + EPS)))
    with torch.no_grad():
        fast.weight.copy_(torch.tensor([-1.0, 2.0]))  # ReLU drops the negative weight
    assert torch.allclose(fast(xs), torch.full((1, 1, 2, 2), 3.0 * 2 / (2 + EPS)))
    with pytest.raises(ValueError, match="fusion"):
        Fuse(2, "mean")


@pytest.mark.parametrize("fusion", ["sum", "softmax", "fast"])
def test_bifpn_neck_in_a_detector(fusion):
    cfg = DetectorConfig(image_size=128, neck=NeckConfig(kind="bifpn", repeats=2, extra_levels=2, fusion=fusion))
    det = build_detector(cfg).eval()  # P7 is 1x1 at 128 px: batch 1 needs eval-mode BN
    outs = det(torch.zeros(1, 3, 128, 128, dtype=torch.uint8))
    assert det.neck.out_levels == (3, 4, 5, 6, 7)
    assert [o[0].shape[-1] for o in outs] == [128 // 2 ** lv for lv in range(3, 8)]
    n_weights = sum(p.numel() for n, p in det.neck.named_parameters() if n.endswith("fuse.0.weight"))
    assert n_weights == (0 if fusion == "sum" else 2 * 2)  # one 2-input node per layer, 2 layers
    targets = [{"boxes": torch.tensor([[10.0, 10, 50, 60]]), "labels": torch.tensor([1])}] * 2
    assert math.isfinite(det.train().loss(torch.zeros(2, 3, 128, 128, dtype=torch.uint8), targets)[0].item())


def test_classifier_training_is_seeded_and_learns_a_tiny_set():
    from detdesign.classification import ClassifierTrainConfig, accuracy, train_classifier

    g = torch.Generator().manual_seed(0)
    y = torch.arange(32) % 4
    x = 0.3 * torch.randn(32, 3, 32, 32, generator=g) + (y.float() - 1.5).view(-1, 1, 1, 1)  # brightness = class
    cfg = ClassifierTrainConfig(epochs=15, batch_size=16, lr=0.05, warmup_iters=2, label_smoothing=0.0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = efficientnet((0.5, 0.5, 32, 0.0), num_classes=4, stem_stride=2)
        runs.append(train_classifier(net, x, y, cfg))
    assert runs[0] == runs[1] and runs[0][-1] < runs[0][0]
    assert accuracy(net, x, y) > 0.25  # above chance (4 classes)
    with pytest.raises(ValueError, match="as many images as labels"):
        train_classifier(net, x, y[:3], cfg)


def test_measure_accepts_prepared_inputs():
    from detdesign.measure import count_flops, measure_latency

    det = build_detector(DetectorConfig(image_size=128)).eval()
    with torch.no_grad():
        feats = det.features(torch.zeros(1, 3, 128, 128))
    f = count_flops(det.neck, inputs=feats)
    assert f.macs > 0 and f.input_shape[0] == 1
    assert measure_latency(det.neck, inputs=feats, runs=2, warmup=0).batch_size == 1
