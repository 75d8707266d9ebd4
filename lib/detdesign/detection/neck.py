"""Necks: a registry of feature pyramids with one interface, ``forward([C1..C5]) -> [P_l for l in levels]``.

``fpn`` wraps ``torchvision.ops.FeaturePyramidNetwork`` (top-down + lateral 1x1, 3x3 output convs) with
optional P6/P7 from stride-2 3x3 convs on P5 (``LastLevelP6P7``, as in FCOS/RetinaNet).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from detdesign.detection.config import NeckConfig
from detdesign.registry import Registry

NECKS = Registry("neck")
register_neck = NECKS.register


def list_necks() -> list[str]:
    """Registered neck kinds (``NeckConfig.kind``)."""
    return NECKS.names()


@register_neck("fpn")
class FPN(nn.Module):
    """FPN over backbone levels ``cfg.levels`` (1-based C indices), ``cfg.extra_levels`` extra levels."""

    def __init__(self, cfg: NeckConfig, in_channels: list[int]):
        super().__init__()
        if cfg.extra_levels not in (0, 1, 2):
            raise ValueError(f"extra_levels must be 0, 1 or 2, got {cfg.extra_levels}")
        self.levels = cfg.levels
        extra = LastLevelP6P7(cfg.channels, cfg.channels) if cfg.extra_levels else None
        self.fpn = FeaturePyramidNetwork([in_channels[lv - 1] for lv in cfg.levels], cfg.channels,
                                         extra_blocks=extra)
        self.num_outputs = len(cfg.levels) + cfg.extra_levels
        self.out_levels = tuple(range(cfg.levels[0], cfg.levels[0] + self.num_outputs))

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        inputs = OrderedDict((f"c{lv}", feats[lv - 1]) for lv in self.levels)
        outs = list(self.fpn(inputs).values())
        return outs[: self.num_outputs]  # LastLevelP6P7 always adds two; keep what was asked for


def create_neck(cfg: NeckConfig, in_channels: list[int]) -> nn.Module:
    """The neck ``cfg.kind`` over backbone levels with ``in_channels`` (C1..C5 widths)."""
    return NECKS.create(cfg.kind, cfg, in_channels)
