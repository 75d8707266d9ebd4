"""TE-NAS trainability proxy: condition number of the empirical NTK (Chen et al., ICLR 2021).

For one batch, G[i] = d (sum_k f_k(x_i)) / d theta (all parameters), the NTK Theta = G G^T [B, B], and
kappa = lambda_max / lambda_min. TE-NAS prefers *small* kappa, so the registered score is ``-kappa``
(higher = predicted better). Only the NTK half of TE-NAS is computed (ZenNAS's comparison does the same;
the linear-region count is not used). Re-initialised per repeat.

``train_mode=False`` (default, the default of TE-NAS's ``get_ntk_n``): BN uses its (fresh) running
statistics, samples are independent, and the per-sample gradients come from ``torch.func.vmap(grad)`` in
chunks -- about one batched backward pass. ``train_mode=True`` keeps BN's batch statistics, which couple
the samples; the Jacobian then needs one backward pass per sample (``is_grads_batched``), ~B times slower.
"""

from __future__ import annotations

import torch
from torch.func import functional_call, grad, vmap

from detdesign.proxies.init import batch, initialise
from detdesign.proxies.registry import register


def _per_sample_grads_eval(net, x: torch.Tensor, chunk: int) -> torch.Tensor:
    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v.detach() for k, v in net.named_buffers()}

    def out_sum(p, xi):
        return functional_call(net, (p, buffers), (xi.unsqueeze(0),)).sum()

    rows = []
    for part in x.split(chunk):
        g = vmap(grad(out_sum), in_dims=(None, 0))(params, part)
        rows.append(torch.cat([t.flatten(1) for t in g.values()], dim=1))
    return torch.cat(rows)  # [B, P]


def _per_sample_grads_train(net, x: torch.Tensor) -> torch.Tensor:
    params = [p for p in net.parameters() if p.requires_grad]
    per_sample = net(x).sum(dim=1)  # [B]
    grads = torch.autograd.grad(per_sample, params, grad_outputs=torch.eye(len(x)), is_grads_batched=True)
    return torch.cat([t.flatten(1) for t in grads], dim=1)


@register("te_nas", data_free=False, gradients=True, cost="second-order", min_batch=2)
def te_nas(net, *, resolution, batch_size, generator, data=None, init="default", train_mode=False,
           chunk=16) -> float:
    """-lambda_max / lambda_min of the NTK of one batch (see the module docstring)."""
    initialise(net, generator, init)
    net.train(train_mode)
    x, _ = batch(net, data, resolution, batch_size, generator)
    g = _per_sample_grads_train(net, x) if train_mode else _per_sample_grads_eval(net, x, chunk)
    g = g.double()
    lam = torch.linalg.eigvalsh(g @ g.t())
    return float(-(lam[-1] / lam[0]))
