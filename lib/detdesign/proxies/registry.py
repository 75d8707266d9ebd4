"""One registry and one call signature for every zero-shot proxy.

A proxy is a function ``fn(net, *, inputs, generator, **options) -> float`` computing ONE draw on a
network that :func:`compute` has already deep-copied (so the caller's model is never changed). It sets the
train/eval mode it needs itself. :func:`compute` handles copying, seeding, repeats and timing, and always
returns a :class:`ProxyResult`. Sign convention: higher = the proxy predicts a better network.

The registration is the single source of truth about a proxy: :func:`register` records a :class:`ProxySpec`
(does it need a real batch, gradients, which networks it reads, its cost class, its options), and every list
of proxies in the notebooks and tests is a query of the registry (:func:`list_proxies`). A new proxy is one
file with one ``@register(...)`` function, imported in ``detdesign/proxies/__init__.py``.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

COSTS = ("static", "forward", "backward", "second-order")  # cheapest first
NETWORKS = ("any", "zennas")  # "zennas": reads ZenNAS blocks (ZenNet, detection Backbone/Detector)
_CALL_ARGS = {"net", "resolution", "batch_size", "generator", "data"}


@dataclass(frozen=True)
class ProxySpec:
    """What a registered proxy is: its function and the facts a caller needs to choose or run it.

    ``data_free``: the value never depends on a real batch (``data=`` is ignored); otherwise a real batch is
    used when given and Gaussian inputs with random labels otherwise. ``gradients``: needs autograd.
    ``cost``: one of :data:`COSTS`. ``networks``: ``"any"`` nn.Module classifier, or ``"zennas"`` (needs
    ZenNAS blocks). ``min_batch``: the smallest batch for which the value is defined. ``options``: keyword
    options the function takes besides the call arguments (read from its signature).
    """

    name: str
    fn: Callable
    data_free: bool
    gradients: bool
    cost: str
    networks: str = "any"
    min_batch: int = 1
    better: str = "higher"  # every registered value is oriented so that higher = predicted better
    options: tuple[str, ...] = ()


_REGISTRY: dict[str, ProxySpec] = {}


@dataclass(frozen=True)
class ProxyResult:
    """``value`` = mean over ``n`` repeats; ``std`` (0 for one repeat), 95% interval, and wall seconds.

    ``overflow`` is True when any repeat produced +inf or nan (float32 overflow); ``underflow`` when one gave
    -inf (the log of a quantity that underflowed to 0, e.g. every gradient zero in a dead network); ``value``
    is then the non-finite number itself, never a silently clipped one.
    """

    name: str
    value: float
    std: float
    n: int
    ci95: tuple[float, float]
    seconds: float
    values: tuple[float, ...]
    overflow: bool = False
    underflow: bool = False


def register(name: str, *, data_free: bool, gradients: bool, cost: str, networks: str = "any",
             min_batch: int = 1):
    """Decorator: register ``fn`` as proxy ``name`` with the facts of :class:`ProxySpec`."""
    if cost not in COSTS:
        raise ValueError(f"proxy {name!r}: cost must be one of {COSTS}, got {cost!r}")
    if networks not in NETWORKS:
        raise ValueError(f"proxy {name!r}: networks must be one of {NETWORKS}, got {networks!r}")

    def deco(fn: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"proxy {name!r} is already registered")
        params = inspect.signature(fn).parameters
        missing = _CALL_ARGS - set(params)
        if missing:
            raise TypeError(f"proxy {name!r}: the function must take {sorted(_CALL_ARGS)}; missing {sorted(missing)}")
        options = tuple(p for p in params if p not in _CALL_ARGS)
        _REGISTRY[name] = ProxySpec(name, fn, data_free, gradients, cost, networks, min_batch, "higher", options)
        return fn
    return deco


def list_proxies(*, data_free: bool | None = None, gradients: bool | None = None, networks: str | None = None,
                 max_cost: str | None = None) -> list[str]:
    """Names of the registered proxies (sorted), optionally filtered by their :class:`ProxySpec` facts.

    ``networks="any"`` keeps the proxies that run on any network (``"zennas"`` keeps all, since a ZenNAS
    network is also a network); ``max_cost`` keeps those at most that expensive (see :data:`COSTS`).
    """
    if networks is not None and networks not in NETWORKS:
        raise ValueError(f"networks must be one of {NETWORKS}, got {networks!r}")
    if max_cost is not None and max_cost not in COSTS:
        raise ValueError(f"max_cost must be one of {COSTS}, got {max_cost!r}")
    out = []
    for name, s in sorted(_REGISTRY.items()):
        if data_free is not None and s.data_free != data_free:
            continue
        if gradients is not None and s.gradients != gradients:
            continue
        if networks == "any" and s.networks != "any":
            continue
        if max_cost is not None and COSTS.index(s.cost) > COSTS.index(max_cost):
            continue
        out.append(name)
    return out


def spec(name: str) -> ProxySpec:
    """The :class:`ProxySpec` of ``name``; an unknown name raises ``ValueError`` with the closest names."""
    if not isinstance(name, str):
        raise TypeError(f"a proxy name must be a string, got {type(name).__name__}")
    if name not in _REGISTRY:
        key = name.strip().lower().replace("-", "_").replace(" ", "_")
        close = [n for n in _REGISTRY if key == n or (len(n) > 2 and key.startswith(n)) or n.startswith(key)]
        close = close or difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown proxy {name!r}{hint} (registered proxies: {', '.join(list_proxies())})")
    return _REGISTRY[name]


def get(name: str) -> Callable:
    """The function registered as ``name``."""
    return spec(name).fn


def repeat_generator(seed: int, repeat: int) -> torch.Generator:
    """The generator of repeat ``repeat``: independent streams for each (seed, repeat) pair."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(repeat))


def _summary(name: str, values: list[float], seconds: float) -> ProxyResult:
    n = len(values)
    overflow = any(math.isnan(v) or v == math.inf for v in values)
    underflow = any(v == -math.inf for v in values)
    if overflow or underflow:
        bad = next(v for v in values if not math.isfinite(v))
        return ProxyResult(name, bad, float("nan"), n, (float("nan"), float("nan")), seconds, tuple(values),
                           overflow=overflow, underflow=underflow)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    half = 1.96 * std / math.sqrt(n)
    return ProxyResult(name, mean, std, n, (mean - half, mean + half), seconds, tuple(values))


def _check_call(s: ProxySpec, model, repeats, batch_size, resolution, options) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for arg, val in (("repeats", repeats), ("batch_size", batch_size), ("resolution", resolution)):
        if not isinstance(val, int) or isinstance(val, bool):
            raise TypeError(f"{arg} must be an int, got {val!r}")
        if val < 1:
            raise ValueError(f"{arg} must be >= 1, got {val}")
    if not any(p.numel() for p in model.parameters()):
        raise ValueError(f"proxy {s.name!r}: the model has no weights, so every proxy value would be meaningless; "
                         "pass the network itself (e.g. ZenNet(structure)), not an empty module")
    stride = getattr(model, "total_stride", None)
    if isinstance(stride, int) and resolution < stride:
        raise ValueError(f"resolution={resolution} is below the network's total stride {stride}: its last stage "
                         f"would see an empty map; use resolution >= {stride} (a multiple of it)")
    if batch_size < s.min_batch:
        raise ValueError(f"proxy {s.name!r} needs batch_size >= {s.min_batch} (it compares samples of one "
                         f"batch), got {batch_size}")
    unknown = sorted(set(options) - set(s.options))
    if unknown:
        offered = ", ".join(s.options) or "none"
        raise ValueError(f"proxy {s.name!r} takes no option {', '.join(map(repr, unknown))}; its options: {offered}")


def compute(name: str, model: nn.Module, *, resolution: int = 32, batch_size: int = 16, seed: int = 0,
            repeats: int = 1, data=None, **options) -> ProxyResult:
    """Compute proxy ``name`` on a copy of ``model``; see :func:`list_proxies` for the names.

    Args:
        resolution, batch_size: shape of the Gaussian input ``[batch_size, 3, resolution, resolution]``
            used by data-free proxies.
        seed: repeat ``r`` draws weights and inputs from :func:`repeat_generator` ``(seed, r)``.
        repeats: independent draws averaged into ``value`` (``std``, ``ci95`` and ``n`` describe them).
        data: ``(x, y)`` real batch for data-dependent proxies (ignored by data-free ones).
        options: proxy-specific keywords (``spec(name).options`` lists them).
    """
    s = spec(name)
    _check_call(s, model, repeats, batch_size, resolution, options)
    values, t0 = [], time.perf_counter()
    for r in range(repeats):
        net = copy.deepcopy(model)
        g = repeat_generator(seed, r)
        values.append(float(s.fn(net, resolution=resolution, batch_size=batch_size, generator=g, data=data,
                                 **options)))
    return _summary(name, values, time.perf_counter() - t0)
