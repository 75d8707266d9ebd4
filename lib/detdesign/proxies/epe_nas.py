"""``epe_nas`` (Lopes et al., "EPE-NAS: Efficient Performance Estimation Without Training for Neural Architecture
Search", ICANN 2021; as scored by NASLib for NAS-Bench-Suite-Zero).

The input Jacobians ``J_i = d sum(f(x_i)) / d x_i`` of a labelled batch are grouped by class; for each class c
with samples ``i in c`` the correlation matrix ``Sigma_c = corrcoef(J_c)`` gives
``s_c = sum_{ij} log(|Sigma_c[i, j]| + 1e-5)``, and the score is ``sum_c |s_c|`` (the form for <= 100 classes).
Intuition: a network whose same-class samples have *uncorrelated* Jacobians (|corr| near 0, log very negative)
separates them well at initialisation. A class with one sample contributes ``log(1 + 1e-5) ~ 0``. Needs real labels
(``data=``); with the Gaussian fallback the labels are random. Higher = predicted better.
"""

from __future__ import annotations

import torch

from detdesign.proxies.init import batch, initialise, input_jacobians
from detdesign.proxies.registry import register

EPS = 1e-5


@register("epe_nas", data_free=False, gradients=True, cost="backward", min_batch=2)
def epe_nas(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """sum over classes of |sum log(|corr of same-class input Jacobians| + 1e-5)| (module docstring)."""
    initialise(net, generator, init)
    net.train()
    x, y = batch(net, data, resolution, batch_size, generator)
    jac = input_jacobians(net, x)  # [B, 3 H W]
    score = 0.0
    for c in torch.unique(y):
        rows = jac[y == c]
        corr = torch.corrcoef(rows) if len(rows) > 1 else torch.ones(1, 1, dtype=torch.float64)
        if not torch.isfinite(corr).all():
            return float("nan")
        score += abs(float(torch.log(corr.abs() + EPS).sum()))
    return score
