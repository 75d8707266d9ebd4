"""``plain`` (NAS-Bench-Suite-Zero, NASLib ``measures/plain.py``; first used as a pruning baseline by Abdelfattah et
al.): the *signed* first-order Taylor term of the loss, ``sum_l sum theta_l * dL/dtheta_l``, over every Conv2d and
Linear weight, with the cross-entropy of one batch, the network in train mode (BN on batch statistics) and
re-initialised as the other pruning proxies are (:mod:`detdesign.proxies.gradient`).

It is ``snip`` without the absolute value, so positive and negative saliencies cancel; Suite-Zero measured a
*negative* Spearman with NB201 CIFAR-10 validation accuracy (-0.26). Registered with the usual orientation
(higher = predicted better), so a negative correlation is what the anchor predicts.
"""

from __future__ import annotations

from detdesign.proxies.gradient import _loss_grads, _prepare
from detdesign.proxies.init import batch
from detdesign.proxies.registry import register


@register("plain", data_free=False, gradients=True, cost="backward")
def plain(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """sum_l sum theta_l * dL/dtheta_l (signed; module docstring)."""
    _prepare(net, generator, init)
    x, y = batch(net, data, resolution, batch_size, generator)
    weights, grads = _loss_grads(net, x, y)
    return float(sum((w.detach() * g).sum() for w, g in zip(weights, grads)))
