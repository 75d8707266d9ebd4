"""Zen-Score (Zen-NAS, Lin et al. ICCV 2021, Eq. 6-7), as the official ``compute_zen_score.py`` computes it.

Per repeat, on a fresh Gaussian initialisation (conv/linear weights ~ N(0,1), biases 0, BN gamma 1 beta 0):

    x, eps ~ N(0, 1)^[B,3,R,R],   x' = x + gamma * eps        (gamma = mixup_gamma = 1e-2)
    Delta = mean_b  sum_{c,h,w} | f(x) - f(x') |              (f = forward_pre_gap; per-sample L1 norm)
    Zen   = log Delta + sum_{BN layers l} log sqrt( mean_c sigma_l^2 )

BN runs in train mode (batch statistics) and no gradient is taken. ``bn_variance`` selects sigma_l^2:

- ``"running"`` (default, reproduces the official numbers): the BN *running* variance read after the two
  forward passes with momentum 0.1, i.e. ``0.81 + 0.09 v(x) + 0.1 v(x')`` from a reset of 1. This pulls
  every layer's term towards log 1 = 0, so the BN sum is strongly compressed.
- ``"batch"`` (the paper's intent): the variance of the batch itself on the clean input ``x`` (biased, as
  BN normalises with it).

Differences from the official command-line script: it never resets BN running statistics between its
repeats, so its printed score drifts with the repeat count; here every repeat re-initialises the network
(running statistics included), so repeats are independent draws. Residual links: the official *search*
scores networks built with ``no_reslink=True``; pass such a network (``ZenNet(..., no_reslink=True)``)
to reproduce it. ``compute("zen", ...)`` never mutates the caller's model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from detdesign.proxies.init import gaussian_init, gaussian_input, pre_gap
from detdesign.proxies.registry import register

BN_VARIANCES = ("running", "batch")


def _bn_layers(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@register("zen", data_free=True, gradients=False, cost="forward", min_batch=2)
def zen_score(net: nn.Module, *, resolution: int, batch_size: int, generator: torch.Generator, data=None,
              mixup_gamma: float = 1e-2, bn_variance: str = "running") -> float:
    """One Zen-Score draw (see the module docstring for the definition and the options)."""
    if bn_variance not in BN_VARIANCES:
        raise ValueError(f"bn_variance must be one of {BN_VARIANCES}, got {bn_variance!r}")
    if mixup_gamma <= 0:
        raise ValueError(f"mixup_gamma must be > 0, got {mixup_gamma}")
    f = pre_gap(net)
    gaussian_init(net, generator)
    net.train()
    x = gaussian_input(batch_size, resolution, generator)
    eps = gaussian_input(batch_size, resolution, generator)
    bns = _bn_layers(net)
    batch_var: dict[int, float] = {}

    def hook(module, inputs, _output):
        if id(module) not in batch_var:  # first call = the clean input x
            batch_var[id(module)] = inputs[0].var(dim=(0, 2, 3), unbiased=False).mean().item()

    handles = [m.register_forward_hook(hook) for m in bns] if bn_variance == "batch" else []
    try:
        with torch.no_grad():
            out1 = f(x)  # [B, C, h, w]
            out2 = f(x + mixup_gamma * eps)
    finally:
        for h in handles:
            h.remove()
    delta = (out1 - out2).abs().sum(dim=(1, 2, 3)).mean().item()
    if bn_variance == "running":
        variances = [m.running_var.mean().item() for m in bns]
    else:
        variances = [batch_var[id(m)] for m in bns]
    if delta <= 0 or not math.isfinite(delta):
        return float("nan") if not math.isfinite(delta) else float("-inf")
    return math.log(delta) + sum(0.5 * math.log(v) for v in variances)
