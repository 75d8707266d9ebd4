"""A compound-scaling grid that can decide (EfficientNet §3.2-3.3, Fig. 3-4), for CIFAR-10 on a CPU.

The paper's claim is about *equal FLOPs*: scaling depth, width or resolution alone saturates, and scaling all three
with ``d = alpha^phi, w = beta^phi, r = gamma^phi`` (Eq. 3, ``alpha beta^2 gamma^2 ~ 2``) is more accurate at the same
FLOPs. A test of it needs every axis to land on the same FLOPs, steps small enough to see saturation, and a
resolution axis that adds information. So:

- :data:`BASE16` takes **16-px** inputs (CIFAR-10 downsampled, antialiased), so the resolution axis to 23 and 32 px
  adds real pixels instead of upsampling 32-px images; its stem has stride 1 (16 -> 16 -> 8 -> 4 px).
- Its stages have 2-4 repeats, so ``ceil(d * repeats)`` moves depth in steps of about 1/13 of the network.
- :func:`matched` scales one axis (or the compound rule) to the point whose **realised** MACs are nearest to
  ``2^k`` times the base, searching the axis' multiplier on a fine grid (width rounding to 8 channels, ceil-rounded
  repeats and integer input sizes make the realised MACs discrete); a point more than ``tolerance`` away is
  flagged (``within``), never silently used as matched.
- :func:`grid_points` gives every axis at every step, with the realised depth (blocks), width (last-stage channels)
  and input size, the MACs ratio and the multiplier that produced it: what a reader needs to check the matching.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd
import torch

from detdesign.arch.efficientnet import EfficientNetConfig, MBConvStage, efficientnet, round_filters, round_repeats
from detdesign.measure import count_flops
from detdesign.scaling.compound import Compound

BASE16 = EfficientNetConfig(width=1.0, depth=1.0, resolution=16, dropout=0.1, stem=16, head=128, survival=1.0,
                            stages=(MBConvStage(2, 3, 1, 1, 16), MBConvStage(4, 3, 2, 4, 24),
                                    MBConvStage(4, 5, 2, 4, 40), MBConvStage(3, 3, 1, 4, 64)))
AXES = ("width", "depth", "resolution", "compound")


@dataclass(frozen=True)
class GridSpec:
    """The grid: ``base`` network at ``base_size`` px, steps ``k`` (target MACs ``2^k`` x base), the MACs
    ``tolerance`` of a matched point, the compound rules to scale with, and the multiplier search grid."""

    base: EfficientNetConfig = BASE16
    base_size: int = 16
    steps: tuple[float, ...] = (1.0, 2.0)
    tolerance: float = 0.05
    compounds: tuple[Compound, ...] = (Compound(),)
    resolution_max: int = 32  # the data's own resolution: no axis may upsample beyond it
    search_step: float = 0.005

    def __post_init__(self):
        if self.base_size < 8 or self.resolution_max < self.base_size:
            raise ValueError(f"need 8 <= base_size <= resolution_max, got {self.base_size}, {self.resolution_max}")
        if not self.steps or min(self.steps) <= 0 or not 0 < self.tolerance < 1:
            raise ValueError(f"steps must be > 0 and 0 < tolerance < 1, got {self.steps}, {self.tolerance}")


def network(cfg: EfficientNetConfig, num_classes: int = 10):
    """The CIFAR network of a grid point (stem stride 1: 16-px inputs keep 4 x 4 px in the last stage)."""
    return efficientnet(cfg, num_classes=num_classes, stem_stride=1)


@lru_cache(maxsize=4096)
def macs(cfg: EfficientNetConfig, size: int) -> int:
    """MACs of :func:`network` at ``size`` px (meta device, the project's FLOP counter)."""
    with torch.device("meta"):
        return count_flops(network(cfg), (1, 3, size, size)).macs


def _candidate(spec: GridSpec, axis: str, m: float, c: Compound) -> tuple[EfficientNetConfig, int]:
    """(config, input size) of ``axis`` at multiplier ``m`` (for compound, ``m`` is phi)."""
    if axis == "width":
        return replace(spec.base, width=spec.base.width * m), spec.base_size
    if axis == "depth":
        return replace(spec.base, depth=spec.base.depth * m), spec.base_size
    if axis == "resolution":
        return spec.base, round(spec.base_size * m)
    if axis == "compound":
        d, w, r = c.multipliers(m)
        return replace(spec.base, depth=spec.base.depth * d, width=spec.base.width * w), round(spec.base_size * r)
    raise ValueError(f"axis must be one of {AXES}, got {axis!r}")


def _multipliers(spec: GridSpec, axis: str, k: float, c: Compound) -> np.ndarray:
    """The search grid of an axis' multiplier for step ``k`` (a generous bracket around the nominal value)."""
    if axis == "compound":
        return np.arange(spec.search_step, 2 * k + 1.0, spec.search_step * 4)
    nominal = {"width": 2 ** (k / 2), "depth": 2.0 ** k, "resolution": 2 ** (k / 2)}[axis]
    return np.arange(1.0, 2.0 * nominal, spec.search_step)


def matched(spec: GridSpec, axis: str, k: float, c: Compound | None = None) -> dict:
    """The ``axis`` point whose realised MACs are nearest to ``2^k`` x the base's (module docstring)."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    c = c or Compound()
    base = macs(spec.base, spec.base_size)
    target = 2 ** k * base
    seen: dict[tuple, tuple] = {}
    for m in _multipliers(spec, axis, k, c):
        cfg, size = _candidate(spec, axis, float(m), c)
        if size > spec.resolution_max:
            continue
        key = (tuple(round_repeats(s.repeats, cfg.depth) for s in cfg.stages),
               tuple(round_filters(s.out_channels, cfg.width) for s in cfg.stages), size)
        if key not in seen:  # many multipliers realise the same network: keep the smallest
            seen[key] = (float(m), cfg, size)
    if not seen:
        raise ValueError(f"no {axis} point of step {k} fits resolution_max={spec.resolution_max}")
    # MACs never decrease along an axis' multiplier, so a bisection over the distinct networks (in multiplier
    # order) finds the two that bracket the target in ~log2(n) MACs counts
    uniq = list(seen.values())
    lo, hi = 0, len(uniq) - 1
    if macs(*uniq[hi][1:]) < target:
        lo = hi  # even the largest network of the axis falls short (e.g. resolution capped at the data's 32 px)
    else:
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if macs(*uniq[mid][1:]) >= target else (mid + 1, hi)
    near = [uniq[j] for j in {max(lo - 1, 0), lo}]
    err, m, cfg, size = min(((abs(macs(cf, sz) / target - 1), mm, cf, sz) for mm, cf, sz in near),
                            key=lambda t: (t[0], t[1]))
    realised = macs(cfg, size)
    return {"axis": axis, "k": k, "multiplier": m, "target_ratio": 2 ** k, "macs": realised,
            "macs_ratio": realised / base, "within": err <= spec.tolerance,
            "blocks": sum(round_repeats(s.repeats, cfg.depth) for s in cfg.stages),
            "channels": round_filters(spec.base.stages[-1].out_channels, cfg.width), "size": size,
            "compound": (c.alpha, c.beta, c.gamma) if axis == "compound" else None, "config": cfg}


def grid_points(spec: GridSpec) -> pd.DataFrame:
    """The base and every axis at every step (one row per point; compound once per rule in ``spec.compounds``)."""
    b = spec.base
    rows = [{"axis": "base", "k": 0.0, "multiplier": 1.0, "target_ratio": 1.0, "macs": macs(b, spec.base_size),
             "macs_ratio": 1.0, "within": True, "blocks": sum(s.repeats for s in b.stages),
             "channels": round_filters(b.stages[-1].out_channels, b.width), "size": spec.base_size, "compound": None,
             "config": b}]
    for k in spec.steps:
        rows += [matched(spec, a, k) for a in AXES if a != "compound"]
        rows += [matched(spec, "compound", k, c) for c in spec.compounds]
    return pd.DataFrame(rows)


# -- the single-axis frontier a compound point is compared with --------------------------------------------
SINGLE = ("width", "depth", "resolution")


def _weights(xs: np.ndarray, x: float) -> np.ndarray:
    """Weights of the points at log-MACs ``xs`` (sorted) whose sum is the linear interpolation at ``x``."""
    w = np.zeros(len(xs))
    j = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1))
    t = float(np.clip((x - xs[j - 1]) / (xs[j] - xs[j - 1]), 0.0, 1.0))
    w[j - 1], w[j] = 1 - t, t
    return w


def frontier_weights(pts: pd.DataFrame, label: str, tolerance: float) -> dict[str, pd.Series]:
    """Per single axis, the weights over its chain (base, k1, k2, ...) that interpolate its accuracy linearly in
    log-MACs at ``label``'s MACs; an axis whose largest point has less than ``label``'s MACs / (1 + tolerance)
    enters with that point (its curve is not extrapolated). The frontier is the best axis at that MACs."""
    x = np.log2(pts.loc[label, "macs_ratio"])
    out = {}
    for axis in SINGLE:
        chain = pd.concat([pts[pts["axis"] == "base"], pts[pts["axis"] == axis]]).sort_values("macs")
        xs = np.log2(chain["macs_ratio"].to_numpy())
        if len(chain) > 1:
            out[axis] = pd.Series(_weights(xs, min(x, xs[-1])), index=chain.index)
    return out


def frontier(acc: pd.DataFrame, weights: dict[str, pd.Series]) -> pd.DataFrame:
    """[rows, axes]: each axis' accuracy interpolated by :func:`frontier_weights` for every row of ``acc`` (a table
    of accuracies, one column per point: resamples or seeds); the single-axis frontier is its row-wise max."""
    return pd.DataFrame({a: acc[w.index].to_numpy() @ w.to_numpy() for a, w in weights.items()}, index=acc.index)
