import math

import pytest
import torch

from detdesign.arch import ZenNet
from detdesign.arch.structures import plain_structure
from detdesign.proxies import ProxyResult, compute, list_proxies

SMALL = "SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)"
KW = dict(resolution=16, batch_size=4, seed=3)


def test_registry_lists_and_rejects_unknown():
    assert {"zen", "phi"} <= set(list_proxies())
    with pytest.raises(ValueError, match="registered proxies: .*zen"):
        compute("zenn", ZenNet(SMALL, 10))
    with pytest.raises(TypeError):
        compute("zen", "not a model")
    with pytest.raises(ValueError):
        compute("zen", ZenNet(SMALL, 10), repeats=0)


@pytest.mark.parametrize("name", ["zen", "phi"])
def test_deterministic_and_non_mutating(name):
    net = ZenNet(SMALL, 10, no_reslink=True)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    a = compute(name, net, repeats=3, **KW)
    b = compute(name, net, repeats=3, **KW)
    assert isinstance(a, ProxyResult) and a.n == 3 and a.values == b.values and math.isfinite(a.value)
    assert a.ci95[0] <= a.value <= a.ci95[1] and a.std > 0 and a.seconds > 0
    assert not net.training, "the caller's mode is untouched"
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert compute(name, net, repeats=1, **{**KW, "seed": 4}).value != a.values[0]


def test_zen_bn_variance_options_differ_as_documented():
    net = ZenNet(plain_structure(4, 16), 10, no_reslink=True)
    running = compute("zen", net, bn_variance="running", **KW).value
    batch = compute("zen", net, bn_variance="batch", **KW).value
    # every BN input here has variance > 1, and the running reading (0.81 + 0.09 v1 + 0.1 v2) shrinks it
    assert batch > running
    with pytest.raises(ValueError, match="bn_variance"):
        compute("zen", net, bn_variance="ema", **KW)


def test_zen_needs_forward_pre_gap():
    with pytest.raises(TypeError, match="forward_pre_gap"):
        compute("zen", torch.nn.Conv2d(3, 8, 3), **KW)


@pytest.mark.parametrize("name", ["zen", "phi"])
def test_wider_and_deeper_score_higher(name):
    scores = {(d, w): compute(name, ZenNet(plain_structure(d, w), 10, no_reslink=True, no_bn=name == "phi"),
                              repeats=2, **KW).value for d in (2, 6) for w in (8, 32)}
    assert scores[(2, 32)] > scores[(2, 8)] and scores[(6, 8)] > scores[(2, 8)]


def test_phi_overflow_is_reported_and_log_mode_is_exact():
    deep = ZenNet(plain_structure(60, 32), 10, no_reslink=True, no_bn=True)
    direct = compute("phi", deep, mode="direct", **KW)
    assert direct.overflow and not math.isfinite(direct.value)
    exact = compute("phi", deep, mode="log", **KW)
    assert not exact.overflow and exact.value > 88.7
    shallow = ZenNet(plain_structure(8, 16), 10, no_reslink=True, no_bn=True)
    a, b = (compute("phi", shallow, mode=m, **KW).value for m in ("direct", "log"))
    assert a == pytest.approx(b, rel=1e-5)
    with pytest.raises(ValueError, match="no_reslink"):
        compute("phi", ZenNet(SMALL, 10), mode="log", **KW)
    with pytest.raises(ValueError, match="mode"):
        compute("phi", shallow, mode="fast", **KW)
