"""Activation-pattern proxies (Mellor et al., "Neural Architecture Search without Training").

- ``jacob_cov`` (ICML 2021 v1, as in zero-cost-nas): J = d sum(f(x)) / dx per sample, flattened;
  C = corrcoef(J); score = -sum_i [ log(lambda_i + 1e-5) + 1 / (lambda_i + 1e-5) ] over C's eigenvalues.
  Higher = less correlated Jacobians = predicted better.
- ``naswot`` (v2): binary codes c of every ReLU's input (c = [z > 0]); K = c c^T + (1 - c)(1 - c)^T summed over
  ReLUs (a Hamming-similarity kernel between the samples of the batch); score = log |det K|.
  Higher = more distinct activation patterns = predicted better.
Both run in train mode on one batch (``data=``, else Gaussian), re-initialised per repeat.
"""

from __future__ import annotations

import torch
from torch import nn

from detdesign.proxies.init import batch, forward_with_hooks, initialise, input_jacobians
from detdesign.proxies.registry import register


@register("jacob_cov", data_free=False, gradients=True, cost="backward", min_batch=2)
def jacob_cov(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """-sum(log(lambda + k) + 1/(lambda + k)) of the correlation matrix of per-sample input Jacobians."""
    initialise(net, generator, init)
    net.train()
    x, _ = batch(net, data, resolution, batch_size, generator)
    corr = torch.corrcoef(input_jacobians(net, x))  # [B, B]
    if not torch.isfinite(corr).all():
        return float("nan")
    lam = torch.linalg.eigvalsh(corr)
    k = 1e-5
    return float(-(torch.log(lam + k) + 1.0 / (lam + k)).sum())


@register("naswot", data_free=False, gradients=False, cost="forward", min_batch=2)
def naswot(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """log|det K| of the ReLU-code kernel K (see the module docstring)."""
    initialise(net, generator, init)
    net.train()
    x, _ = batch(net, data, resolution, batch_size, generator)
    n = len(x)
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(_module, inputs, _output):
        c = (inputs[0].detach().flatten(1) > 0).double()  # [B, units]
        kernel.add_(c @ c.t() + (1 - c) @ (1 - c).t())

    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise TypeError("naswot needs nn.ReLU modules to read activation codes from")
    forward_with_hooks(net, relus, hook, x)
    return float(torch.linalg.slogdet(kernel).logabsdet)
