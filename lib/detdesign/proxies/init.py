"""Weight initialisation and input helpers shared by the proxies."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def gaussian_init(net: nn.Module, generator: torch.Generator, std: float = 1.0) -> None:
    """Zen-NAS initialisation: conv/linear weights ~ N(0, std^2), biases 0, BN weight 1 and bias 0,
    BN running statistics reset (mean 0, var 1)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * std)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            if m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


def gaussian_input(batch_size: int, resolution: int, generator: torch.Generator, channels: int = 3):
    """``randn[batch_size, channels, resolution, resolution]`` from ``generator``."""
    return torch.randn((batch_size, channels, resolution, resolution), generator=generator)


def pre_gap(net: nn.Module):
    """The pre-pooling feature function of ``net`` (``forward_pre_gap``), or a ``TypeError``."""
    fn = getattr(net, "forward_pre_gap", None)
    if fn is None:
        raise TypeError(f"{type(net).__name__} has no forward_pre_gap(x); Zen-Score and Phi need the last "
                        "feature map before global pooling (see detdesign.arch.ZenNet)")
    return fn
