"""``l2_norm`` (NAS-Bench-Suite-Zero, NASLib ``measures/l2_norm.py``): the sum over every Conv2d and Linear layer
of the Frobenius norm of its weight, ``sum_l ||W_l||_F``, at initialisation. Data-free and gradient-free: a size
proxy that also sees the initialiser's scale (PyTorch's Kaiming-uniform by default). Higher = predicted better.
"""

from __future__ import annotations

import torch

from detdesign.proxies.init import initialise, weight_layers
from detdesign.proxies.registry import register


@register("l2_norm", data_free=True, gradients=False, cost="static")
def l2_norm(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """sum_l ||W_l||_F over Conv2d and Linear layers (module docstring)."""
    initialise(net, generator, init)
    with torch.no_grad():
        return float(sum(m.weight.double().norm() for m in weight_layers(net)))
