"""Pruning-at-initialisation proxies (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021; formulas of ``SamsungLabs/zero-cost-nas``, ``foresight/pruners/measures``).

All are sums over the Conv2d and Linear layers ``l`` with weights ``theta_l``; the loss is the
cross-entropy of one batch ``(x, y)`` (``data=``, else Gaussian inputs with random labels); the network is
re-initialised per repeat (``init="default"``: PyTorch's own initialisation) and runs in train mode
(BN on batch statistics), except ``synflow`` (below).

- ``grad_norm`` = sum_l || dL/dtheta_l ||_2                       (higher = predicted better)
- ``snip``      = sum_l sum | theta_l * dL/dtheta_l |              (higher = predicted better)
- ``grasp``     = sum_l sum ( -theta_l * (H g)_l ),  g = dL/dtheta, H the Hessian; sign as published
- ``fisher``    = sum_l sum_c 0.5 * mean_n ( sum_hw a * dL/da )^2, a = the layer's output activations
- ``synflow``   = sum_l sum | theta_l * dR/dtheta_l |, R = sum(f(1)) with theta -> |theta|, float64,
                  an all-ones input [1,3,R,R] and BN removed (replaced by identity), as in the paper.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from detdesign.proxies.init import batch, initialise, weight_layers
from detdesign.proxies.registry import register


def _prepare(net, generator, init):
    initialise(net, generator, init)
    net.train()
    net.zero_grad(set_to_none=True)


def _loss_grads(net, x, y, create_graph=False):
    weights = [m.weight for m in weight_layers(net)]
    loss = F.cross_entropy(net(x), y)
    return weights, torch.autograd.grad(loss, weights, create_graph=create_graph)


@register("grad_norm", data_free=False, gradients=True, cost="backward")
def grad_norm(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """Sum over layers of the L2 norm of the loss gradient w.r.t. the layer's weight."""
    _prepare(net, generator, init)
    x, y = batch(net, data, resolution, batch_size, generator)
    _, grads = _loss_grads(net, x, y)
    return float(sum(g.norm() for g in grads))


@register("snip", data_free=False, gradients=True, cost="backward")
def snip(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """Connection sensitivity: sum |theta * dL/dtheta| (Lee et al. 2019)."""
    _prepare(net, generator, init)
    x, y = batch(net, data, resolution, batch_size, generator)
    weights, grads = _loss_grads(net, x, y)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads)))


@register("grasp", data_free=False, gradients=True, cost="second-order")
def grasp(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """Gradient signal preservation: sum -theta * (H g) (Wang et al. 2020), via a Hessian-vector product."""
    _prepare(net, generator, init)
    x, y = batch(net, data, resolution, batch_size, generator)
    weights, g = _loss_grads(net, x, y)
    g = [t.detach() for t in g]
    _, g_graph = _loss_grads(net, x, y, create_graph=True)
    z = sum((a * b).sum() for a, b in zip(g, g_graph))
    hg = torch.autograd.grad(z, weights)
    return float(sum((-w * h).sum() for w, h in zip(weights, hg)).detach())


@register("fisher", data_free=False, gradients=True, cost="backward")
def fisher(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """Fisher information of the layer outputs: sum_c 0.5 * mean_n (sum_hw a * dL/da)^2 (Turner et al.)."""
    _prepare(net, generator, init)
    x, y = batch(net, data, resolution, batch_size, generator)
    acts: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        acts.append(output)

    handles = [m.register_forward_hook(keep) for m in weight_layers(net)]
    try:
        F.cross_entropy(net(x), y).backward()
    finally:
        for h in handles:
            h.remove()
    total = 0.0
    for a in acts:
        prod = a * a.grad  # [B, C, H, W] or [B, C]
        per_channel = prod.sum(dim=(2, 3)) if prod.ndim == 4 else prod
        total += float((0.5 * per_channel.detach().pow(2).mean(dim=0)).sum())
    return total


def _without_bn(net: nn.Module) -> nn.Module:
    for name, child in net.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, nn.Identity())
        else:
            _without_bn(child)
    return net


@register("synflow", data_free=True, gradients=True, cost="backward")
def synflow(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """Synaptic flow (Tanaka et al. 2020): data-free, BN removed, |theta|, float64, ones input."""
    initialise(net, generator, init)
    net = _without_bn(copy.deepcopy(net)).double().train()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    weights = [m.weight for m in weight_layers(net)]
    out = net(torch.ones(1, 3, resolution, resolution, dtype=torch.float64))
    grads = torch.autograd.grad(out.sum(), weights)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads)))
