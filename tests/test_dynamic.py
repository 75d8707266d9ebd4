import warnings

import numpy as np
import pytest
import torch

from detdesign.data import load_bccd
from detdesign.detection import DetectorConfig, preprocess
from detdesign.detection.evaluate import to_coco
from detdesign.dynamic import (
    AdaptiveRouter,
    DynamicConfig,
    RouterTrainConfig,
    both_predictions,
    build_dynamic,
    curve,
    hard_fraction,
    routed_ap,
    router_diagnostics,
    router_loss,
    threshold,
    train_router,
)
from detdesign.dynamic.inference import _top

CFG = DynamicConfig(first=DetectorConfig(image_size=128), second=DetectorConfig(image_size=128))


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(root):
    return preprocess(load_bccd("val"), 128).select(slice(0, 6))


@pytest.fixture(scope="module")
def model():
    return build_dynamic(CFG, seed=0).eval()


@pytest.mark.parametrize("batch", [1, 3, 5])
def test_router_output_shape_and_range(batch):
    router = AdaptiveRouter([16, 32, 64, 128, 256])
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(batch, c, 64 // 2 ** i, 64 // 2 ** i, generator=g) * 50 for i, c in
             enumerate([16, 32, 64, 128, 256])]
    phi = router(feats)
    assert phi.shape == (batch,) and bool(((phi > 0) & (phi < 1)).all())
    assert router.fc1.out_features == (16 + 32 + 64 + 128 + 256) // 4


def test_forced_routes_equal_each_detector_exactly(model, tiny):
    x = tiny.images[:4]
    easy, _ = model.predict(x, route=torch.zeros(4, dtype=torch.bool))
    hard, _ = model.predict(x, route=torch.ones(4, dtype=torch.bool))
    _, outs1, outs2 = model.heads(x)
    ref1 = model.first.head.decode(outs1, 128)
    ref2 = model.second.head.decode(outs2, 128)
    ref_first = model.first.predict(x)  # detector 1 on its own gives the same boxes
    for got, r1, r1b in zip(easy, ref1, ref_first):
        assert all(torch.equal(got[k], r1[k]) and torch.equal(got[k], r1b[k]) for k in r1)
    for got, r2 in zip(hard, ref2):
        assert all(torch.allclose(got[k], r2[k], atol=1e-5) for k in r2)


def test_mixed_batch_keeps_input_order(model, tiny):
    x = tiny.images[:5]
    route = torch.tensor([True, False, True, False, False])
    mixed, r = model.predict(x, route=route)
    assert torch.equal(r, route)
    for i in range(5):  # batch size changes float rounding, so compare the sorted scores, not the order of ties
        single, _ = model.predict(x[i:i + 1], route=route[i:i + 1])
        other, _ = model.predict(x[i:i + 1], route=~route[i:i + 1])
        a, b, c = (torch.sort(d[0 if d is not mixed else i]["scores"]).values for d in (mixed, single, other))
        assert len(a) == len(b) and torch.allclose(a, b, atol=1e-4)
        assert len(a) != len(c) or not torch.allclose(a, c, atol=1e-4)  # the other detector differs
    with pytest.raises(ValueError, match="one entry per image"):
        model.predict(x, route=torch.ones(3, dtype=torch.bool))


def test_threshold_routes_by_difficulty(model, tiny):
    x = tiny.images
    z = model.difficulty_logit(x)
    assert torch.allclose(torch.sigmoid(z), model.difficulty(x))
    tau = float(z.median())  # thresholds live on the logit scale
    _, route = model.predict(x, threshold=tau)
    assert torch.equal(route, z > tau)


def test_router_loss_gradient_sign():
    l1 = torch.tensor([2.0, 1.0, 1.5])
    l2 = torch.tensor([1.0, 1.0, 1.6])
    delta = 0.3
    score = torch.full((3,), 0.5, requires_grad=True)  # the official "score" = 1 - phi
    router_loss(1 - score, l1, l2, delta).backward()
    expected = ((l1 - l2) - delta) / 3  # mean over the batch
    assert torch.allclose(score.grad, expected)
    assert torch.equal(torch.sign(score.grad), torch.sign((l1 - l2) - delta))


def test_threshold_arithmetic_and_clipping():
    assert hard_fraction(30.0, 20.0, 40.0) == pytest.approx(0.5)
    with pytest.warns(UserWarning, match=r"valid range \[20.00, 40.00\]"):
        assert hard_fraction(10.0, 20.0, 40.0) == 0.0
    with pytest.warns(UserWarning, match="valid range"):
        assert hard_fraction(50.0, 20.0, 40.0) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hard_fraction(20.0, 20.0, 40.0)
    with pytest.raises(ValueError, match="slower"):
        hard_fraction(30.0, 40.0, 20.0)
    phi = np.linspace(0.05, 0.95, 100)
    for k in (0.1, 0.25, 0.5, 0.9):
        assert (phi > threshold(phi, k)).mean() == pytest.approx(k, abs=0.011)
    assert (phi > threshold(phi, 0.0)).sum() == 0 and (phi > threshold(phi, 1.0)).all()
    with pytest.raises(ValueError, match="hard fraction"):
        threshold(phi, 1.5)


def test_curve_ends_are_the_static_detectors_and_match_predict(model, tiny):
    phi, d1, d2 = both_predictions(model, tiny)
    c = curve(tiny, phi, d1, d2, [0.0, 0.5, 1.0], 10.0, 20.0, random_draws=2)
    assert c["router_AP"].iloc[0] == routed_ap(tiny, d1, d2, [False] * 6)["AP"]
    assert c["router_AP"].iloc[-1] == routed_ap(tiny, d1, d2, [True] * 6)["AP"]
    assert list(c["latency_ms"]) == [10.0, 15.0, 20.0]
    route = torch.as_tensor(phi > np.median(phi))
    out, _ = model.predict(tiny.images, route=route)
    direct = to_coco(out, tiny.targets)
    combined = [b if h else a for a, b, h in zip(d1, d2, route.tolist())]
    assert [len(a) for a in direct] == [len(b) for b in combined]


def test_train_router_changes_only_the_router(tiny):
    m = build_dynamic(CFG, seed=1)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    fit = train_router(m, tiny, RouterTrainConfig(epochs=3, batch_size=4))
    assert len(fit.history) == 3 and np.isfinite(fit.delta) and fit.best_epoch == 3
    changed = {k for k, v in m.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(k.startswith("router.") for k in changed)
    assert all(p.requires_grad for p in m.parameters())


def test_config_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same image_size"):
        DynamicConfig(first=DetectorConfig(image_size=128), second=DetectorConfig(image_size=256))


def test_composite_follows_the_official_wiring(model):
    """Level i of backbone 2 receives backbone 1's levels j >= i (C1 and the same level included)."""
    n = len(model.first.backbone.channels)
    assert {i: model.composite.sources(i) for i in range(n)} == {i: list(range(i, n)) for i in range(n)}
    assert all(conv.bias is not None and conv.kernel_size == (1, 1) for conv in model.composite.convs.values())


def test_neck2_reads_backbone2_stage_outputs_and_fusion_sits_at_the_stage_input(model, tiny):
    """Zeroing one composite conv (j -> i) leaves backbone 2's levels below i untouched and changes level i
    (the fusion enters at the start of stage i); with every composite conv zeroed, neck 2's inputs are exactly
    backbone 2's own stage outputs (no shortcut from backbone 1 to neck 2)."""
    import copy

    m = copy.deepcopy(model)
    x = tiny.images[:2]
    with torch.no_grad():
        f1 = m.features1(x)
        ref = m.features2(x, f1)
        conv = m.composite.convs["4_2"]
        conv.weight.mul_(3.0)
        conv.bias.add_(1.0)
        moved = m.features2(x, f1)
        assert all(torch.equal(a, b) for a, b in zip(ref[:2], moved[:2]))
        assert not torch.allclose(ref[2], moved[2])
        for c in m.composite.convs.values():
            c.weight.zero_()
            c.bias.zero_()
        plain = m.second.features(x)  # backbone 2 alone, same input normalisation
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(m.features2(x, f1), plain))
        f1_other = [torch.randn_like(f) for f in f1]  # then backbone 1 cannot reach neck 2 at all
        assert all(torch.equal(a, b) for a, b in zip(m.features2(x, f1), m.features2(x, f1_other)))


def test_router_early_stopping_keeps_the_best_held_out_epoch(tiny):
    m = build_dynamic(CFG, seed=2)
    fit = train_router(m, tiny, RouterTrainConfig(epochs=4, batch_size=2, holdout=0.5))
    rhos = fit.history["holdout_rho"]
    assert 1 <= fit.best_epoch <= 4 and fit.holdout_rho == pytest.approx(rhos.max())
    with pytest.raises(ValueError, match="holdout"):
        RouterTrainConfig(holdout=1.0)


def test_oracle_and_bootstrap_of_the_routing(model, tiny):
    from detdesign.dynamic import router_inputs, routing_bootstrap

    phi, d1, d2 = both_predictions(model, tiny)
    _, l1, l2 = router_inputs(model, tiny)
    gain = (l1 - l2).numpy()
    c = curve(tiny, phi, d1, d2, [0.0, 0.5, 1.0], 10.0, 20.0, random_draws=3, gain=gain)
    assert c["oracle_AP"].iloc[0] == c["router_AP"].iloc[0] and c["oracle_AP"].iloc[-1] == c["router_AP"].iloc[-1]
    assert (c["random_lo"] <= c["random_hi"]).all()
    b = routing_bootstrap(tiny, phi, d1, d2, 0.5, gain, n_resamples=20, seed=0, random_draws=2)
    for name in ("router_minus_random", "oracle_minus_random", "cascade_minus_first"):
        assert b[f"{name}_lo"] <= b[f"{name}_hi"]
    diag = router_diagnostics(phi, gain)
    assert -1 <= diag["rho"] <= 1 and 0 <= diag["saturated"] <= 1
    assert router_diagnostics([-7.0, 0.0, 7.0], [1, 2, 3])["saturated"] == pytest.approx(2 / 3)  # logits


def test_saturated_scores_rank_on_their_logits():
    # phi = sigmoid(z) is 1.0 in float32 for all three; the logits keep their order, so the top image is the
    # largest logit, not the first one in image order
    z = torch.tensor([20.0, 25.0, 30.0, -1.0])
    assert bool((torch.sigmoid(z)[:3] == 1.0).all())
    assert list(_top(z.double().numpy(), 1)) == [2]
    assert router_diagnostics(z.numpy(), [1.0, 2.0, 3.0, 0.0])["rho"] == pytest.approx(1.0)
