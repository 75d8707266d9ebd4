"""Measuring a network: parameters, FLOPs/MACs and CPU latency.

Conventions (stated once, used everywhere):

- **FLOPs** come from ``torch.utils.flop_counter.FlopCounterMode``: a multiply-add counts as 2 FLOPs, and
  only convolutions, matrix products and similar "big" ops are counted (BN, activations, pooling and
  element-wise adds are not). **MACs** = FLOPs / 2, the multiply-accumulate convention that papers usually
  call "FLOPs" (EfficientNet, Zen-NAS and MAE-DET tables are in MACs).
- **Latency** is wall-clock time of ``model(x)`` under ``torch.inference_mode`` in eval mode: ``warmup``
  untimed runs, then the median of ``runs`` timed runs, with batch size and torch thread count recorded.
All measurements work on a deep copy, so the caller's model (its mode, BN statistics) is never changed.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")


def _example(shape) -> torch.Tensor:
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or any(s <= 0 for s in shape):
        raise ValueError(f"input shape must be positive and include the batch dimension, got {shape}")
    return torch.zeros(shape)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of tensor elements in ``model.parameters()`` (BN weight and bias included)."""
    _check_model(model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@dataclass(frozen=True)
class FlopCount:
    """FLOPs (2 per multiply-add) and MACs (= FLOPs/2) of one forward pass at ``input_shape``."""

    flops: int
    input_shape: tuple[int, ...]
    by_operator: dict

    @property
    def macs(self) -> int:
        return self.flops // 2


def count_flops(model: nn.Module, input_shape=(1, 3, 224, 224), inputs=None) -> FlopCount:
    """Count the FLOPs of one eval-mode forward pass of ``model`` on an input of ``input_shape``.

    A model on the ``meta`` device is counted without allocating memory (EfficientNet-B7 at 600 px, say).
    ``inputs`` (optional) replaces the zero tensor of ``input_shape`` (e.g. feature maps for a neck).
    """
    _check_model(model)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = _example(input_shape).to(device) if inputs is None else inputs
    net = copy.deepcopy(model).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(x)
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    shape = tuple((x[0] if isinstance(x, (list, tuple)) else x).shape)
    return FlopCount(int(counter.get_total_flops()), shape, by_op)


@dataclass(frozen=True)
class Latency:
    """Median and spread of ``runs`` timed forward passes (milliseconds)."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int
    warmup: int
    batch_size: int
    threads: int
    samples_ms: tuple[float, ...] = field(default=(), repr=False)  # every timed run, for intervals

    def __str__(self) -> str:
        return (f"{self.median_ms:.2f} ms median (p10 {self.p10_ms:.2f}, p90 {self.p90_ms:.2f}; "
                f"{self.runs} runs, batch {self.batch_size}, {self.threads} threads)")


def measure_latency(model: nn.Module, input_shape=(1, 3, 224, 224), runs: int = 20, warmup: int = 3,
                    threads: int | None = None, inputs=None) -> Latency:
    """Time an eval-mode forward pass on the CPU: ``warmup`` untimed runs, then ``runs`` timed ones.

    ``inputs`` (optional) replaces the zero tensor of ``input_shape``: e.g. a list of feature maps for a neck.
    """
    _check_model(model)
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    x = _example(input_shape) if inputs is None else inputs
    net = copy.deepcopy(model).eval()
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        times = []
        with torch.inference_mode():
            for i in range(warmup + runs):
                t0 = time.perf_counter()
                net(x)
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1e3)
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
    q = statistics.quantiles(times, n=10) if len(times) > 1 else [times[0]] * 9
    batch = int((x[0] if isinstance(x, (list, tuple)) else x).shape[0])
    return Latency(statistics.median(times), q[0], q[-1], runs, warmup, batch, used, tuple(times))
