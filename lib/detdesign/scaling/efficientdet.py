"""EfficientDet D0-D7x configurations: the official table and the paper's formulas (Tan et al. CVPR 2020).

Formulas (paper section 4.2): BiFPN width W = 64 * 1.35^phi, BiFPN layers D = 3 + phi, box/class layers
D_head = 3 + floor(phi / 3), input R = 512 + 128 phi, backbone B_phi. The official table (factsheet F) was
hand-tuned: widths are hard-coded, and D5-D7x depart from the formulas (see :func:`compare`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import pandas as pd


@dataclass(frozen=True)
class EfficientDetConfig:
    name: str
    input_size: int
    backbone: str
    bifpn_width: int
    bifpn_layers: int
    head_layers: int
    fusion: str = "fast"  # "fast" (fast normalised) or "sum" (D6-D7x)


_TABLE = {  # official hparams_config.py / README (factsheet F)
    "d0": (512, "b0", 64, 3, 3, "fast"), "d1": (640, "b1", 88, 4, 3, "fast"),
    "d2": (768, "b2", 112, 5, 3, "fast"), "d3": (896, "b3", 160, 6, 4, "fast"),
    "d4": (1024, "b4", 224, 7, 4, "fast"), "d5": (1280, "b5", 288, 7, 4, "fast"),
    "d6": (1280, "b6", 384, 8, 5, "sum"), "d7": (1536, "b6", 384, 8, 5, "sum"),
    "d7x": (1536, "b7", 384, 8, 5, "sum"),
}
PAPER_COCO = {"d0": (34.6, 3.9, 2.54), "d1": (40.5, 6.6, 6.10), "d2": (43.9, 8.1, 11.0), "d3": (47.2, 12.0, 24.9),
              "d4": (49.7, 20.7, 55.2), "d5": (51.5, 33.7, 130), "d6": (52.6, 51.9, 226), "d7": (53.7, 51.9, 325),
              "d7x": (55.1, 77.0, 410)}  # AP test-dev, params (M), FLOPs (B) from the README
OFFICIAL_COUNTS = {"d0": (3.880, 2.49), "d1": (6.626, 6.00), "d2": (8.097, 10.83), "d3": (12.032, 24.57),
                   "d4": (20.724, 54.58), "d5": (33.653, 134.13), "d6": (51.872, 224.12), "d7": (51.872, 322.73),
                   "d7x": (77.147, 407.63)}  # official implementation: params (M) / GMACs, 90 classes, official input


def efficientdet_config(name: str) -> EfficientDetConfig:
    """The official configuration of ``"d0".."d7"`` or ``"d7x"``."""
    key = name.lower().removeprefix("efficientdet-")
    if key not in _TABLE:
        raise ValueError(f"unknown EfficientDet {name!r}; known: {', '.join(_TABLE)}")
    return EfficientDetConfig(key, *_TABLE[key])


def efficientdet_config_from_phi(phi: int) -> EfficientDetConfig:
    """The paper's formulas at compound coefficient ``phi`` (W rounded to the nearest multiple of 8)."""
    if not isinstance(phi, int) or phi < 0:
        raise ValueError(f"phi must be a non-negative integer, got {phi!r}")
    width = int(round(64 * 1.35 ** phi / 8) * 8)
    return EfficientDetConfig(f"phi{phi}", 512 + 128 * phi, f"b{min(phi, 7)}", width, 3 + phi, 3 + math.floor(phi / 3))


def compare() -> pd.DataFrame:
    """Official table vs formulas for D0-D7 (phi = 0..7), one row per model and field, deviations marked."""
    rows = []
    for phi, name in enumerate(["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"]):
        off, fo = efficientdet_config(name), efficientdet_config_from_phi(phi)
        for f in fields(EfficientDetConfig):
            if f.name in ("name", "fusion"):
                continue
            a, b = getattr(off, f.name), getattr(fo, f.name)
            rows.append({"model": name, "field": f.name, "official": a, "formula": b, "deviates": a != b})
    return pd.DataFrame(rows)
