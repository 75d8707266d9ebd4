"""What every training loop of the project shares: the schedule, one optimiser step, precision, EMA, convergence.

Detection (:mod:`detdesign.detection.training`) and classification (:mod:`detdesign.classification`) both
call these, so a change to the schedule or the step lands in both.

- :func:`warmup_cosine` -- linear warm-up over ``warmup`` iterations, then cosine decay to 0 at ``total``:
  ``lr_t = lr (t + 1) / warmup`` for ``t < warmup``, else ``lr (1 + cos(pi (t - warmup) / (total - warmup))) / 2``.
- :func:`optimizer_step` -- zero grads, backward, optional gradient-norm clipping, step, schedule step.
- :func:`autocast` -- ``torch.autocast`` in bfloat16 (``precision="bf16"``) or nothing (``"fp32"``), on the
  model's device type. On the project's CPU (AVX-512 BF16), bf16 autocast with channels_last convs is the fast
  path (``benchmarks/bench_detection.py``); weights, optimiser state and losses stay float32.
- :class:`EMA` -- an exponential moving average of the weights and buffers
  (``torch.optim.swa_utils.AveragedModel``): ``theta_ema <- d_t theta_ema + (1 - d_t) theta`` after every step,
  ``d_t = min(d, (1 + t) / (10 + t))``; evaluations read the average, which lowers seed noise.
- :func:`convergence` -- the project's rule for "this training converged" (a ledger precondition).
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch.optim.swa_utils import AveragedModel

CONVERGED_TOL = 0.01  # validation-metric gain over the last quarter of the schedule below which a run converged


def warmup_cosine(opt: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration linear warm-up then cosine decay (see the module docstring)."""
    if warmup < 0 or total < 1:
        raise ValueError(f"need warmup >= 0 and total >= 1 iterations, got {warmup} and {total}")

    def factor(it: int) -> float:
        if it < warmup:
            return (it + 1) / warmup
        frac = (it - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def optimizer_step(loss: torch.Tensor, opt: torch.optim.Optimizer, sched=None, params=None,
                   clip: float | None = None) -> None:
    """One step: ``zero_grad``, ``backward``, clip the gradient norm of ``params`` at ``clip``, ``step``, schedule."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
    if sched is not None:
        sched.step()


def autocast(precision: str, device: str | torch.device = "cpu"):
    """bf16 autocast on ``device``'s type for ``precision="bf16"``; a no-op context for ``"fp32"``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")


def bf16_is_fast(device: str) -> bool:
    """Whether bf16 autocast has fast kernels here: a GPU with bf16, or a CPU whose oneDNN has bf16 (AVX-512
    BF16 / AMX). Without them torch falls back to slow reference convolutions (measured 10-15x slower on an
    AVX2-only CPU), so ``precision="auto"`` picks fp32 there."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def memory_format(channels_last: bool) -> torch.memory_format:
    """``torch.channels_last`` or ``torch.contiguous_format``."""
    return torch.channels_last if channels_last else torch.contiguous_format


def _ema_fn(decay: float):
    """EMA update with a warm-up of the decay, ``d_t = min(decay, (1 + t) / (10 + t))`` after ``t`` updates (as in
    TensorFlow's ExponentialMovingAverage with ``num_updates``), so early averages do not sit at the random init."""
    def update(averaged: list, current: list, num_averaged) -> None:
        t = float(num_averaged)
        d = min(decay, (1.0 + t) / (10.0 + t))
        floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1.0 - d)
        for a, c in zip(averaged, current):
            if not a.is_floating_point():  # integer buffers (BN's num_batches_tracked) follow the model
                a.copy_(c)
    return update


class EMA:
    """Weight EMA of ``model`` with decay ``decay`` (warm-up in :func:`_ema_fn`; buffers averaged too);
    ``.module`` is the averaged copy."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.averaged = AveragedModel(model, multi_avg_fn=_ema_fn(decay), use_buffers=True)

    @property
    def module(self) -> torch.nn.Module:
        return self.averaged.module

    def update(self, model: torch.nn.Module) -> None:
        self.averaged.update_parameters(model)

    def state_dict(self) -> dict:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.averaged.load_state_dict(state)


def convergence(curve, metric: str = "AP", tol: float = CONVERGED_TOL) -> dict:
    """Did a training converge? Gain of ``metric`` over the last quarter of the schedule vs ``tol``.

    ``curve``: per-evaluation rows with ``epoch`` and ``metric`` (a DataFrame). The gain is the metric at the
    last evaluation minus the best value at or before 75% of the epochs; a run "converged" when the gain is
    below ``tol`` (absolute) and at least 4 evaluations exist. Returns ``{gain, rule, converged, points}``.
    """
    rule = f"gain of val {metric} over the last quarter < {tol}"
    if curve is None or len(curve) < 4 or metric not in curve:
        return {"gain": float("nan"), "rule": rule, "converged": False, "points": 0 if curve is None else len(curve)}
    last_epoch = curve["epoch"].max()
    early = curve[curve["epoch"] <= 0.75 * last_epoch]
    if early.empty:
        return {"gain": float("nan"), "rule": rule, "converged": False, "points": len(curve)}
    gain = float(curve[metric].iloc[-1] - early[metric].max())
    return {"gain": gain, "rule": rule, "converged": gain < tol, "points": len(curve)}


# -- validation curves: one serialisation, one reader ----------------------------------------------------------
def curve_json(curve) -> str:
    """A validation curve (a DataFrame of per-evaluation rows: ``epoch`` and metrics) as the JSON text a cache row
    stores (a list of records)."""
    return curve.to_json(orient="records")


def read_curve(text: str):
    """The DataFrame of a stored curve: a list of records (:func:`curve_json`, detection rows) or the
    ``orient="split"`` layout of older classification rows."""
    import io
    import json

    import pandas as pd

    data = json.loads(text) if isinstance(text, str) else text
    if isinstance(data, list):
        return pd.DataFrame(data)
    if isinstance(data, dict) and "columns" in data and "data" in data:
        return pd.read_json(io.StringIO(json.dumps(data)), orient="split")
    raise ValueError(f"a stored curve must be a list of records or a split-layout object, got {type(data).__name__}")


def curves(rows, labels) -> pd.DataFrame:  # noqa: F821
    """Every row's curve in long format: ``rows`` (a DataFrame with a ``curve`` column), ``labels`` the columns
    (or the index, by its name) copied onto each curve's rows, e.g. ``("variant", "seed")``."""
    import pandas as pd

    flat = rows.reset_index() if any(c not in rows.columns for c in labels) else rows
    missing = [c for c in labels if c not in flat.columns]
    if missing:
        raise ValueError(f"curves: rows lack the label columns {missing}; they have {list(flat.columns)}")
    return pd.concat([read_curve(r["curve"]).assign(**{c: r[c] for c in labels}) for _, r in flat.iterrows()],
                     ignore_index=True)
