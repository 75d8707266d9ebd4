"""The CIFAR-10 compound-scaling grid's networks: one small MBConv base and its scaled variants (EfficientNet §3).

:data:`BASE` is a 4-stage MBConv network (2.5 M MACs at 32 px). :func:`variant` scales it along one axis —
width ``w = 2^(k/2)``, depth ``d = 2^k``, resolution ``r = 32 * 2^(k/2)`` — or compound (the coefficients of a
:class:`~detdesign.scaling.Compound` at ``phi = k``), so MACs grow about ``2^k``; :func:`compound_phi` finds the
compound phi whose network matches ``2^k`` times the base MACs (within 5%).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from detdesign.arch.efficientnet import EfficientNetConfig, MBConvStage, efficientnet
from detdesign.measure import count_flops
from detdesign.scaling.compound import Compound

BASE = EfficientNetConfig(width=1.0, depth=1.0, resolution=32, dropout=0.1, stem=16, head=128, survival=1.0,
                          stages=(MBConvStage(1, 3, 1, 1, 16), MBConvStage(2, 3, 2, 4, 24),
                                  MBConvStage(2, 5, 2, 4, 40), MBConvStage(2, 3, 1, 4, 64)))

def variant(axis: str, k: float, c: Compound | None = None) -> tuple[EfficientNetConfig, int]:
    """(network config, input size) of ``axis`` in width | depth | resolution | compound at step ``k``."""
    if axis == "base" or k == 0:
        return BASE, 32
    if axis == "width":
        return replace(BASE, width=2 ** (k / 2)), 32
    if axis == "depth":
        return replace(BASE, depth=2.0 ** k), 32
    if axis == "resolution":
        return BASE, round(32 * 2 ** (k / 2))
    if axis == "compound":
        d, w, r = (c or Compound()).multipliers(k)
        return replace(BASE, depth=d, width=w), round(32 * r)
    if axis == "compound_matched":
        return variant("compound", compound_phi(k, c), c)
    raise ValueError(f"axis must be base, width, depth, resolution, compound or compound_matched, got {axis!r}")


def macs(cfg: EfficientNetConfig, size: int) -> int:
    with torch.device("meta"):
        return count_flops(efficientnet(cfg, num_classes=10, stem_stride=2), (1, 3, size, size)).macs


def compound_phi(k: float, c: Compound | None = None, slack: float = 1.05, step: float = 0.05) -> float:
    """The largest phi (on a ``step`` grid) whose compound-scaled network stays within ``slack * 2^k`` of the
    base MACs. On a small base, ceil-rounded repeats and rounded widths make alpha^phi overshoot (phi = 1
    gives 2.75x here, not 1.92x), so the compound curve is compared at matched FLOPs."""
    limit, phi = slack * 2 ** k * macs(BASE, 32), float(k)
    while phi > 0 and macs(*variant("compound", phi, c)) > limit:
        phi = round(phi - step, 6)
    return max(phi, 0.0)
