"""One registry and one call signature for every zero-shot proxy.

A proxy is a function ``fn(net, *, inputs, generator, **options) -> float`` computing ONE draw on a
network that :func:`compute` has already deep-copied (so the caller's model is never changed). It sets the
train/eval mode it needs itself. :func:`compute` handles copying, seeding, repeats and timing, and always
returns a :class:`ProxyResult`. Sign convention: higher = the proxy predicts a better network.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

_REGISTRY: dict[str, Callable] = {}


@dataclass(frozen=True)
class ProxyResult:
    """``value`` = mean over ``n`` repeats; ``std`` (0 for one repeat), 95% interval, and wall seconds.

    ``overflow`` is True when any repeat produced inf or nan (float32 overflow); ``value`` is then the
    non-finite number itself, never a silently clipped one.
    """

    name: str
    value: float
    std: float
    n: int
    ci95: tuple[float, float]
    seconds: float
    values: tuple[float, ...]
    overflow: bool = False


def register(name: str):
    """Decorator: register ``fn`` as proxy ``name``."""
    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"proxy {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn
    return deco


def list_proxies() -> list[str]:
    """Names of all registered proxies, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> Callable:
    if name not in _REGISTRY:
        raise ValueError(f"unknown proxy {name!r}; registered proxies: {', '.join(list_proxies())}")
    return _REGISTRY[name]


def repeat_generator(seed: int, repeat: int) -> torch.Generator:
    """The generator of repeat ``repeat``: independent streams for each (seed, repeat) pair."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(repeat))


def _summary(name: str, values: list[float], seconds: float) -> ProxyResult:
    n = len(values)
    overflow = any(not math.isfinite(v) for v in values)
    if overflow:
        bad = next(v for v in values if not math.isfinite(v))
        return ProxyResult(name, bad, float("nan"), n, (float("nan"), float("nan")), seconds, tuple(values),
                           overflow=True)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    half = 1.96 * std / math.sqrt(n)
    return ProxyResult(name, mean, std, n, (mean - half, mean + half), seconds, tuple(values))


def compute(name: str, model: nn.Module, *, resolution: int = 32, batch_size: int = 16, seed: int = 0,
            repeats: int = 1, data=None, **options) -> ProxyResult:
    """Compute proxy ``name`` on a copy of ``model``; see :func:`list_proxies` for the names.

    Args:
        resolution, batch_size: shape of the Gaussian input ``[batch_size, 3, resolution, resolution]``
            used by data-free proxies.
        seed: repeat ``r`` draws weights and inputs from :func:`repeat_generator` ``(seed, r)``.
        repeats: independent draws averaged into ``value`` (``std``, ``ci95`` and ``n`` describe them).
        data: ``(x, y)`` real batch for data-dependent proxies (ignored by data-free ones).
        options: proxy-specific keywords (see each proxy's docstring).
    """
    fn = get(name)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if repeats < 1 or batch_size < 1 or resolution < 1:
        raise ValueError(f"repeats, batch_size and resolution must be >= 1, got {repeats}, {batch_size}, "
                         f"{resolution}")
    values, t0 = [], time.perf_counter()
    for r in range(repeats):
        net = copy.deepcopy(model)
        g = repeat_generator(seed, r)
        values.append(float(fn(net, resolution=resolution, batch_size=batch_size, generator=g, data=data,
                               **options)))
    return _summary(name, values, time.perf_counter() - t0)
