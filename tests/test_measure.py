import pytest
import torch
from torch import nn

from detdesign.measure import count_flops, count_params, measure_latency


def _net():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def test_params_count_all_tensor_elements():
    assert count_params(_net()) == 3 * 8 * 9 + 16 + 8 * 4 + 4


def test_flops_are_twice_macs_of_conv_and_linear():
    fc = count_flops(_net(), (2, 3, 16, 16))
    macs = 2 * (3 * 8 * 9 * 16 * 16 + 8 * 4)
    assert fc.macs == macs and fc.flops == 2 * macs
    assert fc.input_shape == (2, 3, 16, 16)


def test_measurements_do_not_mutate_the_model():
    net = _net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    count_flops(net, (4, 3, 8, 8))
    lat = measure_latency(net, (1, 3, 8, 8), runs=3, warmup=1, threads=1)
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert lat.runs == 3 and lat.batch_size == 1 and lat.threads == 1 and lat.median_ms > 0
    assert lat.p10_ms <= lat.median_ms <= lat.p90_ms


def test_bad_input():
    with pytest.raises(TypeError):
        count_params("net")
    with pytest.raises(ValueError, match="batch dimension"):
        count_flops(_net(), (1, 3, 0, 16))
    with pytest.raises(ValueError):
        measure_latency(_net(), (1, 3, 8, 8), runs=0)
