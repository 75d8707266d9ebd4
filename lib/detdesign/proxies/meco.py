"""``meco`` (Jiang et al., "MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum Eigenvalue of
Correlation", NeurIPS 2023).

One forward pass; for the output feature map ``F in R^{C x HW}`` of every module (containers included, as the
authors hook every module) of the *first* sample of the batch, the channel correlation matrix
``P = corrcoef(F)`` (C x C; NaN/inf entries, e.g. of constant channels, set to 0) gives its minimum eigenvalue
``lambda_min(P)``; the score is ``sum over modules of lambda_min``. Outputs with fewer than two channels or a single
spatial position (logits, pooled vectors) have no correlation structure and are skipped. Higher = predicted better
(the paper reports Spearman ~0.89 with NAS-Bench-201 CIFAR-10 accuracy).
"""

from __future__ import annotations

import torch

from detdesign.proxies.init import batch, forward_with_hooks, initialise
from detdesign.proxies.registry import register


def _min_eig(feature: torch.Tensor) -> float | None:
    """lambda_min of the channel correlation of one sample's feature map [C, H, W] (None when undefined)."""
    if feature.ndim != 3 or feature.shape[0] < 2 or feature.shape[1] * feature.shape[2] < 2:
        return None
    corr = torch.corrcoef(feature.flatten(1).double())
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return float(torch.linalg.eigvalsh(corr)[0])


@register("meco", data_free=False, gradients=False, cost="forward", min_batch=1)
def meco(net, *, resolution, batch_size, generator, data=None, init="default") -> float:
    """sum over modules of lambda_min(channel correlation of sample 0's output) (module docstring)."""
    initialise(net, generator, init)
    net.train()
    x, _ = batch(net, data, resolution, batch_size, generator)
    values: list[float] = []

    def hook(_module, _inputs, output):
        out = output[0] if isinstance(output, tuple | list) else output
        if isinstance(out, torch.Tensor) and out.ndim == 4:
            v = _min_eig(out[0].detach())
            if v is not None:
                values.append(v)

    forward_with_hooks(net, list(net.modules()), hook, x)
    return float(sum(values))
