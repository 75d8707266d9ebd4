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


INITS = ("default", "gaussian", "keep")


@torch.no_grad()
def initialise(net: nn.Module, generator: torch.Generator, init: str) -> None:
    """Re-initialise ``net`` for one repeat.

    ``default``: every module's own ``reset_parameters`` (PyTorch's Kaiming-uniform), seeded from
    ``generator`` -- what the zero-cost-proxy literature scores; ``gaussian``: Zen-NAS N(0,1)
    (:func:`gaussian_init`); ``keep``: the weights as passed (e.g. a trained network).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "gaussian":
        gaussian_init(net, generator)
    elif init == "default":
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for m in net.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.reset_running_stats()


def num_outputs(net: nn.Module, resolution: int) -> int:
    """Width of the network's output (number of classes), from one tiny eval-mode forward pass."""
    mode = net.training
    net.eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 3, resolution, resolution))
    net.train(mode)
    return int(out.shape[-1])


def batch(net: nn.Module, data, resolution: int, batch_size: int, generator: torch.Generator):
    """The batch a data-dependent proxy scores: ``data=(x, y)`` as given, else Gaussian inputs with
    uniformly random labels drawn from ``generator`` (the Zen-NAS convention for data-free use)."""
    if data is not None:
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise TypeError("data must be a pair (x, y) of tensors: images [B,3,H,W] and labels [B]")
        x, y = data
        if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"data must be x [B,3,H,W] and y [B]; got {tuple(x.shape)} and {tuple(y.shape)}")
        return x.float(), y.long()
    classes = num_outputs(net, resolution)
    x = gaussian_input(batch_size, resolution, generator)
    return x, torch.randint(0, classes, (batch_size,), generator=generator)


def weight_layers(net: nn.Module) -> list[nn.Module]:
    """The layers the pruning-based proxies score: every Conv2d and Linear."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def input_jacobians(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-sample input gradients of the summed output, ``d sum(f(x)) / dx`` flattened to [B, 3 H W] (double):
    the Jacobian rows ``jacob_cov`` and ``epe_nas`` correlate."""
    x = x.clone().requires_grad_(True)
    (jac,) = torch.autograd.grad(net(x).sum(), x)
    return jac.flatten(1).double()


def forward_with_hooks(net: nn.Module, modules, hook, x: torch.Tensor) -> None:
    """One no-grad forward pass of ``x`` with ``hook`` registered as a forward hook on ``modules`` (removed after)."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
