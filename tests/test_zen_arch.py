import pytest
import torch
from torch import nn

from detdesign.arch import ZenNet, format_zen, parse_zen, smart_round
from detdesign.measure import count_flops, count_params


def test_reference_strings_round_trip(zen_reference):
    for ref in zen_reference:
        blocks = parse_zen(ref["structure"])
        assert format_zen(blocks) == ref["structure"], ref["name"]
        assert parse_zen(format_zen(blocks)) == blocks


@pytest.mark.parametrize("reslink", [True, False])
def test_parameter_counts_match_official(zen_reference, reslink):
    for ref in zen_reference:
        net = ZenNet(ref["structure"], ref["num_classes"], no_reslink=not reslink)
        key = "params_torch_with_reslink" if reslink else "params_torch_no_reslink"
        assert count_params(net) == ref[key], ref["name"]
        assert net.analytic_params() == ref[key], ref["name"]
        n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
        assert n_bn == ref["bn_layers_with_reslink" if reslink else "bn_layers_no_reslink"], ref["name"]


def test_official_flops_and_analytic_macs(zen_reference):
    for ref in zen_reference:
        net = ZenNet(ref["structure"], ref["num_classes"])
        assert net.official_flops(ref["resolution"]) == pytest.approx(ref["flops_official"]), ref["name"]
        if ref["resolution"] == 32:  # measure on the small nets (the ImageNet ones take seconds each)
            r = ref["resolution"]
            assert count_flops(net, (1, 3, r, r)).macs == net.analytic_macs(r), ref["name"]


def test_forward_shapes_and_stage_features():
    s = ("SuperConvK3BNRELU(3,8,2,1)SuperResK1K3K1(8,16,2,8,1)SuperResIDWE2K5(16,24,2,8,1)"
         "SuperResK3K5(24,32,2,16,1)SuperConvK1BNRELU(32,64,1,1)")
    net = ZenNet(s, num_classes=5).eval()
    x = torch.randn(2, 3, 64, 64)
    assert net(x).shape == (2, 5)
    assert net.forward_pre_gap(x).shape == (2, 64, 4, 4)
    shapes = [tuple(f.shape[1:]) for f in net.stage_features(x)]
    assert shapes == [(8, 32, 32), (16, 16, 16), (24, 8, 8), (64, 4, 4)]


def test_no_bn_removes_main_path_bn_only():
    s = "SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,2,8,1)"
    assert not any(isinstance(m, nn.BatchNorm2d) for m in ZenNet(s, 10, no_reslink=True, no_bn=True).modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in ZenNet(s, 10, no_bn=True).modules()) == 1  # the proj


@pytest.mark.parametrize("bad, msg", [
    ("SuperConvK3BNRELU(3,8,1,1", "block 1 .*unbalanced"),
    ("SuperConvK3BNRELU(3,8,(1),1)", "block 1 .*unbalanced"),
    ("SuperConvK3BNRELU(3,8,1,1)SuperFoo(8,8,1,1)", "block 2: unknown block 'SuperFoo'"),
    ("SuperConvK3BNRELU(3,8,1)", "block 1 .*expected 4 arguments"),
    ("SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,1,8)", "block 2 .*expected 5 arguments"),
    ("SuperConvK3BNRELU(3,8,1.5,1)", "block 1 .*'1.5' is not an integer"),
    ("SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(16,16,1,8,1)", "block 2 .*in channels 16 .*expected 8"),
    ("SuperConvK3BNRELU(3,0,1,1)", "block 1 .*positive"),
    ("SuperConvK3BNRELU(3,8,1,-1)", "block 1 .*positive"),
    ("SuperConvK2BNRELU(3,8,1,1)", "unknown block"),
    ("", "empty"),
    ("(3,8,1,1)", "block 1: expected a block name"),
])
def test_bad_strings_raise_value_error(bad, msg):
    with pytest.raises(ValueError, match=msg):
        parse_zen(bad)


def test_bad_types():
    with pytest.raises(TypeError):
        parse_zen(None)
    with pytest.raises(TypeError):
        format_zen(["SuperConvK3BNRELU(3,8,1,1)"])
    with pytest.raises(ValueError):
        ZenNet("SuperConvK3BNRELU(3,8,1,1)", num_classes=0)


def test_smart_round_official_cases():
    assert smart_round(16 * 4, 8) == 64 and smart_round(3, 8) == 8
    # Python round() is round-half-even, as in the official code: 100/8 = 12.5 -> 12
    assert smart_round(100) == 96 and smart_round(101) == 104 and smart_round(200) == 192
    assert smart_round(300) == 288


def test_projection_shortcut_in_channels_last_is_the_strided_conv_and_trains():
    """The 1x1/stride-2 projection takes a subsample-then-1x1 path on channels_last CPU inputs (torch 2.14.1's
    strided backward corrupted the heap for this very shape on an AVX-512 CPU): same output, gradients flow."""
    from detdesign.arch.zen_net import ProjectionConv

    torch.manual_seed(0)
    conv = ProjectionConv(8, 32, 1, 2, bias=True)
    x = torch.randn(2, 8, 128, 128)
    ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias, stride=2)  # [2, 32, 64, 64]
    xc = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    out = conv.to(memory_format=torch.channels_last)(xc)
    assert out.shape == ref.shape and torch.allclose(out, ref, atol=1e-5)
    out.square().sum().backward()
    assert conv.weight.grad is not None and xc.grad[:, :, 1::2].abs().sum() == 0  # odd rows are skipped by stride 2
    odd = torch.randn(1, 8, 33, 33).contiguous(memory_format=torch.channels_last)
    odd = ProjectionConv(8, 16, 1, 2, bias=True)(odd)
    assert odd.shape == (1, 16, 17, 17)
