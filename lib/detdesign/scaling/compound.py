"""Compound scaling (EfficientNet, Tan & Le 2019, Eq. 3): depth d = alpha^phi, width w = beta^phi,
resolution r = gamma^phi, subject to alpha * beta^2 * gamma^2 ~= 2 (so FLOPs grow by about 2^phi), alpha, beta,
gamma >= 1. The paper's grid search at phi = 1 gives alpha = 1.2, beta = 1.1, gamma = 1.15.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from detdesign.arch.efficientnet import EfficientNetConfig

PAPER = (1.2, 1.1, 1.15)


@dataclass(frozen=True)
class Compound:
    """Per-step multipliers: depth ``alpha``, width ``beta``, resolution ``gamma``."""

    alpha: float = PAPER[0]
    beta: float = PAPER[1]
    gamma: float = PAPER[2]

    def __post_init__(self):
        if min(self.alpha, self.beta, self.gamma) < 1.0:
            raise ValueError(f"alpha, beta, gamma must be >= 1, got {self.alpha}, {self.beta}, {self.gamma}")

    @property
    def flops_factor(self) -> float:
        """alpha * beta^2 * gamma^2: FLOPs growth per unit of phi (the paper's constraint is ~2)."""
        return self.alpha * self.beta ** 2 * self.gamma ** 2

    def multipliers(self, phi: float) -> tuple[float, float, float]:
        """(depth, width, resolution) multipliers at ``phi``."""
        return self.alpha ** phi, self.beta ** phi, self.gamma ** phi


def scale(base: EfficientNetConfig, phi: float, c: Compound = Compound()) -> EfficientNetConfig:
    """``base`` scaled by ``c`` at ``phi`` (resolution rounded to an integer)."""
    d, w, r = c.multipliers(phi)
    return replace(base, depth=base.depth * d, width=base.width * w, resolution=round(base.resolution * r))


def grid(target: float = 2.0, tolerance: float = 0.1, step: float = 0.05, top: float = 2.0) -> pd.DataFrame:
    """Every (alpha, beta, gamma) on a ``step`` grid in [1, ``top``] whose FLOPs factor is within ``tolerance``
    of ``target`` -- the candidates of the paper's phi = 1 grid search."""
    if step <= 0 or tolerance < 0 or top < 1:
        raise ValueError(f"need step > 0, tolerance >= 0 and top >= 1, got {step}, {tolerance}, {top}")
    values = np.round(np.arange(1.0, top + 1e-9, step), 6)
    rows = [{"alpha": a, "beta": b, "gamma": g, "flops_factor": a * b * b * g * g}
            for a, b, g in itertools.product(values, values, values) if abs(a * b * b * g * g - target) <= tolerance]
    return pd.DataFrame(rows)
