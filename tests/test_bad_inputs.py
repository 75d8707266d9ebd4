"""Every public entry point with the degenerate values a user (or a reliability pass) tries: each gives a
one-line ``ValueError``/``TypeError`` that names the parameter and the fix, or an explicit flag in the result,
never a crash deep in torch or a meaningless finite number."""

import math

import pytest
import torch
from torch import nn

from detdesign import Run
from detdesign.arch import ZenNet, parse_zen
from detdesign.arch.structures import plain_structure
from detdesign.claims import Claim, Precondition, timing_outcome
from detdesign.data.scenes import SceneConfig
from detdesign.detection import DetectorConfig, TrainConfig
from detdesign.dynamic.inference import hard_fraction, threshold
from detdesign.measure import count_flops, measure_latency
from detdesign.proxies import compute, list_proxies, spec
from detdesign.results import ResultCache


def _nb201():
    from detdesign.arch.nb201_net import NB201Net

    return NB201Net("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|")


NET = "SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,2,8,1)"  # total stride 4
NARROW = "SuperConvK3BNRELU(3,1,2,1)" + "SuperResK1K3K1(1,1,2,1,1)" * 4  # 5 stages of one channel
BATCHED = [p for p in list_proxies(networks="any") if spec(p).min_batch >= 2]

CASES = {
    # proxies: batch, types, resolution, weights, options, names
    "batch 1 where a proxy compares samples": (lambda: compute(BATCHED[0], ZenNet(NET), resolution=16, batch_size=1),
                                               ValueError, "needs batch_size >= 2"),
    "non-integer batch": (lambda: compute("zen", ZenNet(NET), resolution=16, batch_size=2.5), TypeError,
                          "batch_size must be an int"),
    "string resolution": (lambda: compute("zen", ZenNet(NET), resolution="32", batch_size=2), TypeError,
                          "resolution must be an int"),
    "bool repeats": (lambda: compute("zen", ZenNet(NET), resolution=16, batch_size=2, repeats=True), TypeError,
                     "repeats must be an int"),
    "resolution 1": (lambda: compute("zen", ZenNet(NET), resolution=1, batch_size=2), ValueError,
                     "below the network's total stride 4"),
    "resolution below the total stride": (lambda: compute("naswot", ZenNet(NET), resolution=2, batch_size=4),
                                          ValueError, "use resolution >= 4"),
    "resolution 1 on a NAS-Bench-201 cell": (lambda: compute("synflow", _nb201(), resolution=1, batch_size=2),
                                             ValueError, "total stride 4"),
    "a model with no weights": (lambda: compute("synflow", nn.Sequential(nn.ReLU()), resolution=8, batch_size=2),
                                ValueError, "has no weights"),
    "an option the proxy does not take": (lambda: compute("zen", ZenNet(NET), resolution=16, batch_size=2, mode="x"),
                                          ValueError, "takes no option 'mode'; its options: "),
    "a near-miss proxy name": (lambda: compute("synflw", ZenNet(NET), resolution=16, batch_size=2), ValueError,
                               "did you mean 'synflow'"),
    "a long form of a proxy name": (lambda: spec("zen_score"), ValueError, "did you mean 'zen'"),
    "another spelling of a proxy name": (lambda: spec("grad-norm"), ValueError, "did you mean 'grad_norm'"),
    "a non-string proxy name": (lambda: spec(3), TypeError, "must be a string"),
    "the paper entropy of a network whose features die": (
        lambda: compute("maedet_entropy", ZenNet(NARROW), resolution=32, batch_size=2, variant="paper", repeats=8),
        ValueError, "all zero .*variant='analytic'"),
    # structures and networks
    "a first block that does not take 3 channels": (lambda: ZenNet("SuperConvK3BNRELU(4,8,1,1)"), ValueError,
                                                    "takes 4 input channels .*RGB"),
    "an absurd width": (lambda: ZenNet("SuperConvK3BNRELU(3,80000,1,1)SuperConvK3BNRELU(80000,80000,1,1)"),
                        ValueError, "G parameters .* check the widths"),
    "Unicode digits in a structure": (lambda: parse_zen("SuperConvK3BNRELU(3,\u0668,1,1)"), ValueError,
                                      "is not an integer"),
    "a space inside a block name": (lambda: parse_zen("Super ConvK3BNRELU(3,8,1,1)"), ValueError,
                                    "expected '\\(' after the block name"),
    "a chain whose widths do not match": (lambda: parse_zen("SuperConvK3BNRELU(3,8,1,1)SuperConvK3BNRELU(9,8,1,1)"),
                                          ValueError, "expected 8"),
    "zero classes": (lambda: ZenNet(NET, num_classes=0), ValueError, "num_classes must be a positive int"),
    # detectors, schedules, data
    "image size 0": (lambda: DetectorConfig(image_size=0), ValueError, "image_size must be a positive int"),
    "NaN learning rate": (lambda: TrainConfig(lr=float("nan")), ValueError, "lr must be a positive finite"),
    "zero epochs": (lambda: TrainConfig(epochs=0), ValueError, "must be >= 1"),
    "scene sizes upside down": (lambda: SceneConfig(min_size=100, max_size=10), ValueError, "min_size <= max_size"),
    # DynamicDet routing
    "NaN target latency": (lambda: hard_fraction(float("nan"), 10.0, 20.0), ValueError, "target_ms must be a finite"),
    "NaN router scores": (lambda: threshold([0.2, float("nan"), 0.4], 0.5), ValueError, "must be finite"),
    "a hard fraction of NaN": (lambda: threshold([0.2, 0.4], float("nan")), ValueError, "must lie in \\[0, 1\\]"),
    # measurement, ledger, caches, run context
    "zero timed runs": (lambda: measure_latency(nn.Conv2d(3, 3, 1), runs=0), ValueError, "need runs >= 1"),
    "FLOPs of a non-module": (lambda: count_flops("resnet"), TypeError, "expected a torch.nn.Module"),
    "an unknown verdict": (lambda: Claim("x-y", "p", "s", "m", "maybe"), ValueError, "holds must be one of"),
    "an unknown precondition operator": (lambda: Precondition.check("n", 1.0, "=>", 2.0), ValueError,
                                         "op must be one of"),
    "a timing interval upside down": (lambda: timing_outcome(2.0, 1.0, 1.5), ValueError, "finite lo <= hi"),
    "cache version 0": (lambda: ResultCache("/tmp/x.json", version=0), ValueError, "version must be an int >= 1"),
    "an unknown profile": (lambda: Run.from_env("fast"), ValueError, "valid profiles are"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_degenerate_input_gets_a_clear_error(case):
    fn, exc, pattern = CASES[case]
    with pytest.raises(exc, match=pattern) as info:
        fn()
    assert "\n" not in str(info.value)  # one line


def test_a_router_that_outputs_nan_routes_nothing_silently():
    from detdesign.dynamic import DynamicConfig, build_dynamic

    size = DetectorConfig(image_size=64)
    model = build_dynamic(DynamicConfig(first=size, second=size)).eval()
    model.router.logit = lambda feats: torch.full((feats[0].shape[0],), float("nan"))  # a diverged router
    with pytest.raises(ValueError, match="non-finite scores"):
        model.predict(torch.zeros(2, 3, 64, 64), threshold=0.5)


def test_phi_log_mode_stays_finite_past_the_old_underflow_depth():
    """Log-space Phi rescales by the He factor: 300 layers give a finite value, neither overflow nor underflow."""
    net = ZenNet(plain_structure(300, 8), num_classes=10, no_reslink=True, no_bn=True)
    res = compute("phi", net, resolution=8, batch_size=2, mode="log")
    assert math.isfinite(res.value) and not res.overflow and not res.underflow
    naive = compute("phi", net, resolution=8, batch_size=2, mode="direct")
    assert naive.overflow and not math.isfinite(naive.value)  # the float32 forward really overflows


def test_minus_infinity_is_flagged_as_underflow_not_overflow():
    from detdesign.proxies.registry import _summary

    res = _summary("p", [1.0, -math.inf], 0.1)
    assert res.underflow and not res.overflow and res.value == -math.inf
