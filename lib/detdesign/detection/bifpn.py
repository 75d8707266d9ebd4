"""BiFPN (EfficientDet, Tan et al. CVPR 2020) as a neck of the detection stack, with its topology as data.

Every fusion node is a :class:`FusionNode` ``(level, inputs)``; ``inputs`` index the list
``[P_min .. P_max inputs, node 0, node 1, ...]``. :func:`bifpn_topology` builds the paper's graph: a top-down
path (P_{max-1} .. P_min, each fusing its input with the upsampled node above) then a bottom-up path
(P_{min+1} .. P_max, fusing the input, the top-down node of that level, and the downsampled node below).
One layer = those nodes; the outputs are the last node of every level; ``repeats`` layers are stacked.

Each node resamples its inputs to its level (nearest upsampling, max-pool downsampling), fuses them with
``fusion``: ``"sum"``; ``"softmax"`` (``sum_i softmax(w)_i I_i``); ``"fast"`` (fast normalised fusion,
``sum_i ReLU(w_i) I_i / (eps + sum_j ReLU(w_j))``, eps = 1e-4, weights initialised to 1), then applies swish
and a depthwise-separable 3x3 conv + BN. Inputs C_l are projected to the BiFPN width by 1x1 conv + BN; extra
levels P6/P7 come from a 1x1 projection of C5 and stride-2 max-pools, as in the official code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detdesign.detection.config import NeckConfig
from detdesign.detection.neck import register_neck
from detdesign.detection.topology import Node, fpn_topology, outputs_of

FUSIONS = ("sum", "softmax", "fast")
EPS = 1e-4


# the graph is shared with EfficientDet's pyramid (one definition of the official node list)
FusionNode = Node


def bifpn_topology(min_level: int, max_level: int) -> tuple[Node, ...]:
    """The BiFPN graph for levels ``min_level..max_level`` (see the module docstring)."""
    if max_level <= min_level:
        raise ValueError(f"BiFPN needs at least two levels, got {min_level}..{max_level}")
    return fpn_topology("bifpn", min_level, max_level)


output_indices = outputs_of


def _resample(x: Tensor, from_level: int, to_level: int) -> Tensor:
    if from_level == to_level:
        return x
    if from_level > to_level:
        return F.interpolate(x, scale_factor=2 ** (from_level - to_level), mode="nearest")
    k = 2 ** (to_level - from_level)
    return F.max_pool2d(x, kernel_size=k, stride=k)


class Fuse(nn.Module):
    """Weighted fusion of same-shaped inputs (``sum`` | ``softmax`` | ``fast``)."""

    def __init__(self, n: int, mode: str):
        super().__init__()
        if mode not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {mode!r}")
        self.mode = mode
        self.weight = nn.Parameter(torch.ones(n)) if mode != "sum" else None

    def forward(self, xs: list[Tensor]) -> Tensor:
        if self.mode == "sum":
            return torch.stack(xs).sum(0)
        if self.mode == "softmax":
            w = torch.softmax(self.weight, 0)
        else:
            w = F.relu(self.weight)
            w = w / (w.sum() + EPS)
        return sum(wi * x for wi, x in zip(w, xs))


def _separable(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                         nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels, eps=1e-3))


class BiFPNLayer(nn.Module):
    def __init__(self, nodes: tuple[FusionNode, ...], levels: list[int], channels: int, fusion: str):
        super().__init__()
        self.nodes, self.levels = nodes, levels
        self.fuse = nn.ModuleList(Fuse(len(nd.inputs), fusion) for nd in nodes)
        self.convs = nn.ModuleList(_separable(channels) for _ in nodes)
        self.out_idx = output_indices(nodes, levels[0], levels[-1])

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        all_feats, all_levels = list(feats), list(self.levels)
        for node, fuse, conv in zip(self.nodes, self.fuse, self.convs):
            xs = [_resample(all_feats[i], all_levels[i], node.level) for i in node.inputs]
            all_feats.append(conv(F.silu(fuse(xs))))  # [B, W, H_l, W_l]
            all_levels.append(node.level)
        return [all_feats[i] for i in self.out_idx]


@register_neck("bifpn")
class BiFPN(nn.Module):
    """``cfg.repeats`` BiFPN layers of width ``cfg.channels`` over C_levels (+ ``cfg.extra_levels``)."""

    def __init__(self, cfg: NeckConfig, in_channels: list[int]):
        super().__init__()
        if cfg.extra_levels not in (0, 1, 2) or cfg.repeats < 1:
            raise ValueError(f"need extra_levels in 0..2 and repeats >= 1, got {cfg.extra_levels}, {cfg.repeats}")
        if list(cfg.levels) != list(range(cfg.levels[0], cfg.levels[0] + len(cfg.levels))):
            raise ValueError(f"BiFPN levels must be consecutive, got {cfg.levels}")
        self.in_levels = cfg.levels
        self.out_levels = tuple(range(cfg.levels[0], cfg.levels[-1] + 1 + cfg.extra_levels))
        w = cfg.channels
        self.proj = nn.ModuleList(nn.Sequential(nn.Conv2d(in_channels[lv - 1], w, 1), nn.BatchNorm2d(w, eps=1e-3))
                                  for lv in cfg.levels)
        self.extra = nn.Sequential(nn.Conv2d(in_channels[cfg.levels[-1] - 1], w, 1), nn.BatchNorm2d(w, eps=1e-3)
                                   ) if cfg.extra_levels else None
        self.n_extra = cfg.extra_levels
        nodes = bifpn_topology(self.out_levels[0], self.out_levels[-1])
        self.layers = nn.ModuleList(BiFPNLayer(nodes, list(self.out_levels), w, cfg.fusion)
                                    for _ in range(cfg.repeats))

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        ps = [p(feats[lv - 1]) for p, lv in zip(self.proj, self.in_levels)]
        if self.n_extra:
            x = F.max_pool2d(self.extra(feats[self.in_levels[-1] - 1]), 2)
            ps.append(x)
            if self.n_extra == 2:
                ps.append(F.max_pool2d(x, 2))
        for layer in self.layers:
            ps = layer(ps)
        return ps
