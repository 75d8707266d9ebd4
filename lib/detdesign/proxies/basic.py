"""Size proxies: ``params`` and ``flops`` (data-free, deterministic).

- ``params``: number of parameter tensor elements (BN included). Higher = bigger.
- ``flops``: multiply-accumulates (MACs, the papers' "FLOPs") of one eval-mode forward pass of a
  ``[1, 3, resolution, resolution]`` input, counted by ``torch.utils.flop_counter``.
"""

from __future__ import annotations

from detdesign.measure import count_flops, count_params
from detdesign.proxies.registry import register


@register("params", data_free=True, gradients=False, cost="static")
def params_proxy(net, *, resolution, batch_size, generator, data=None) -> float:
    """Parameter count (see the module docstring)."""
    return float(count_params(net))


@register("flops", data_free=True, gradients=False, cost="static")
def flops_proxy(net, *, resolution, batch_size, generator, data=None) -> float:
    """MACs at ``resolution`` (see the module docstring)."""
    return float(count_flops(net, (1, 3, resolution, resolution)).macs)
