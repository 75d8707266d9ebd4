"""Phi-score (Zen-NAS section 2): expected Frobenius norm of the input-gradient of the pre-GAP features.

    Phi(F) = log E_{x, theta} || J_x ||_F ,   J_x = d f(x) / d x,  f = forward_pre_gap,
    x ~ N(0, 1), theta ~ N(0, 1) (biases 0, BN gamma 1 beta 0).

``||J||_F`` is estimated without forming J: for v ~ N(0, I) shaped like f(x), E_v ||J^T v||^2 = ||J||_F^2
(Hutchinson), so one backward pass of ``<f(x), v>`` gives an unbiased per-sample estimate. With BN in train
mode the samples of a batch are coupled through the batch statistics; the estimate then includes that
coupling (it vanishes as the batch grows).

``mode``:

- ``"direct"``: plain float32, exactly as a naive implementation. Without BN the activations grow by about
  sqrt(fan_in / 2) per layer, so deep nets overflow: the draw is then ``inf``/``nan`` and
  :class:`~detdesign.proxies.registry.ProxyResult` reports ``overflow=True`` instead of a garbage number.
- ``"log"``: exact in log space for a positively homogeneous net (ReLU, no residual links, zero biases):
  every conv weight is divided by ``s = sqrt(fan_in)`` before the pass, and the factors ``log s`` of the
  convs *not* followed by a BN (BN in train mode cancels a weight scale) are added back to the log. It needs
  a :class:`~detdesign.arch.ZenNet` with ``no_reslink=True``.
- ``"auto"`` (default): ``"log"`` when the net allows it, else ``"direct"``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from detdesign.proxies.init import gaussian_init, gaussian_input, pre_gap
from detdesign.proxies.registry import register

MODES = ("auto", "direct", "log")


def _log_space_ok(net: nn.Module) -> bool:
    from detdesign.arch import ZenNet
    return isinstance(net, ZenNet) and net.no_reslink


@torch.no_grad()
def _rescale(net: nn.Module) -> float:
    """Divide every conv's weights by sqrt(fan_in / 2); return the log-factor to add back (convs before BN
    contribute nothing: BN in train mode is invariant to the scale of its input). With the He factor the
    activations of a ReLU net keep unit scale at any depth, so the log mode neither overflows nor underflows
    (dividing by sqrt(fan_in) alone halved the energy per layer and reached 0 past ~235 layers)."""
    log_factor = 0.0
    for seq in (m for m in net.modules() if isinstance(m, nn.Sequential)):
        layers = list(seq)
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Conv2d):
                continue
            s = math.sqrt(layer.weight[0].numel() / 2)  # He scale: ReLU halves the energy, so each layer keeps ~1
            layer.weight.div_(s)
            followed_by_bn = i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d)
            if not followed_by_bn:
                log_factor += math.log(s)
    return log_factor


@register("phi", data_free=True, gradients=True, cost="backward")
def phi_score(net: nn.Module, *, resolution: int, batch_size: int, generator: torch.Generator, data=None,
              mode: str = "auto") -> float:
    """One Phi-score draw: log of the batch mean of per-sample ||J_x||_F estimates (module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "log" and not _log_space_ok(net):
        raise ValueError("mode='log' needs a ZenNet built with no_reslink=True (a positively homogeneous "
                         "net); use mode='direct' or 'auto' for other networks")
    use_log = mode == "log" or (mode == "auto" and _log_space_ok(net))
    f = pre_gap(net)
    gaussian_init(net, generator)
    net.train()
    log_factor = _rescale(net) if use_log else 0.0
    x = gaussian_input(batch_size, resolution, generator).requires_grad_(True)
    out = f(x)  # [B, C, h, w]
    v = torch.randn(out.shape, generator=generator)
    (grad,) = torch.autograd.grad((out * v).sum(), x)
    # the norm is taken in float64 so that only a genuine float32 overflow of the network's own forward or
    # backward pass shows up as inf/nan (squaring 1e20-sized gradients would overflow float32 on its own)
    per_sample = grad.flatten(1).double().norm(dim=1)  # [B], estimates of ||J_x||_F
    mean = per_sample.mean().item()
    if not math.isfinite(mean):
        return mean
    if mean <= 0:
        return float("-inf")
    return math.log(mean) + log_factor
