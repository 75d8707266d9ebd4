"""EfficientDet D0-D7x (Tan et al., CVPR 2020) built from this package: EfficientNet backbone, BiFPN, class and
box nets, anchors, focal + Huber losses. The structure follows the official implementation (google/automl
``efficientdet``), read for understanding:

- **Backbone**: EfficientNet-B_phi (:mod:`detdesign.arch.efficientnet`); C3/C4/C5 are the outputs of stages 3,
  5 and 7 (strides 8, 16, 32).
- **Extra levels**: P6 = 1x1 conv + BN of C5, then a 3x3 stride-2 max-pool with TF "same" padding; P7 (and P8
  for D7x) = the same max-pool of the level below.
- **BiFPN** (:func:`fpn_topology`): every node resamples each input *per use* -- a backbone feature whose width
  differs from the BiFPN's gets its own 1x1 conv + BN for every node that reads it (the official first layer,
  where C4 and C5 are read twice) -- then nearest upsampling or 3x3/s2 max-pooling, fusion (``fast``: fast
  normalised, ``softmax``, ``sum``), swish, a depthwise-separable 3x3 conv (pointwise bias kept) and BN
  (eps 1e-3, momentum 0.01). FPN (top-down only) is another topology of the same layer, so an FPN/BiFPN
  ablation changes the graph alone.
- **Heads**: ``D_head`` separable-conv layers shared across levels with a separate BN per level per repeat and
  swish, then a separable prediction conv: 9 anchors per location (scales 2^{0,1/3,2/3} x aspect ratios
  1:2, 1:1, 2:1, anchor scale 4; 5 for D7/D7x) times classes (class net) or 4 (box net).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from detdesign.arch.efficientnet import efficientnet, round_filters
from detdesign.detection.bifpn import FUSIONS, Fuse  # noqa: F401  (one fusion rule for both pyramids)
from detdesign.detection.config import NeckConfig
from detdesign.detection.neck import register_neck
from detdesign.detection.topology import TOPOLOGIES, Node, fpn_topology, outputs_of  # noqa: F401
from detdesign.scaling.efficientdet import EfficientDetConfig, efficientdet_config, efficientdet_config_from_phi

BN = {"eps": 1e-3, "momentum": 0.01}  # official BN hyper-parameters (TF momentum 0.99 = torch 0.01)
C_STAGES = (2, 4, 6)  # indices into EfficientNet.features(): outputs of stages 3, 5, 7 (C3, C4, C5)


def max_pool_same(x: Tensor) -> Tensor:
    """3x3 stride-2 max-pool with TensorFlow "same" padding (extra padding at the bottom/right)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / 2) - 1) * 2 + 3 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), 3, 2)


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 (no bias) then pointwise 1x1 (with bias), as the official ``SeparableConv2d``."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1))


class Resample(nn.Module):
    """One *use* of a feature by a node: 1x1 conv + BN if its width differs, then up/down to the node's level."""

    def __init__(self, cin: int, cout: int, steps: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout, **BN)) if cin != cout else None
        self.steps = steps  # > 0: max-pool that many times, < 0: upsample by 2^-steps

    def forward(self, x: Tensor) -> Tensor:
        if self.proj is not None:
            x = self.proj(x)
        for _ in range(max(self.steps, 0)):
            x = max_pool_same(x)
        return F.interpolate(x, scale_factor=2 ** -self.steps, mode="nearest") if self.steps < 0 else x


class FPNLayer(nn.Module):
    """One layer of a topology: per node, per-use resampling, fusion, swish, separable conv, BN."""

    def __init__(self, nodes: tuple[Node, ...], levels: list[int], in_channels: list[int], width: int, fusion: str):
        super().__init__()
        self.nodes, self.levels = nodes, levels
        channels = list(in_channels)
        self.resample, self.fuse, self.conv = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        all_levels = list(levels)
        for node in nodes:
            self.resample.append(nn.ModuleList(Resample(channels[i], width, node.level - all_levels[i])
                                               for i in node.inputs))
            self.fuse.append(Fuse(len(node.inputs), fusion))
            self.conv.append(nn.Sequential(nn.SiLU(), SeparableConv(width, width), nn.BatchNorm2d(width, **BN)))
            channels.append(width)
            all_levels.append(node.level)
        self.out = outputs_of(nodes, levels[0], levels[-1])
        self.out_channels = [channels[i] for i in self.out]

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        xs = list(feats)
        for node, res, fuse, conv in zip(self.nodes, self.resample, self.fuse, self.conv):
            xs.append(conv(fuse([r(xs[i]) for r, i in zip(res, node.inputs)])))  # [B, W, H_l, W_l]
        return [xs[i] for i in self.out]


class FeaturePyramid(nn.Module):
    """Extra levels from C5 (1x1 conv + BN, max-pools), then ``repeats`` layers of ``topology``."""

    def __init__(self, in_channels: list[int], width: int, repeats: int, min_level: int = 3, max_level: int = 7,
                 fusion: str = "fast", topology: str = "bifpn"):
        super().__init__()
        if max_level < 5 or min_level != 3 or repeats < 1:
            raise ValueError(f"need levels 3..>=5 and repeats >= 1, got {min_level}..{max_level}, {repeats}")
        self.levels = list(range(min_level, max_level + 1))
        self.p6 = nn.Sequential(nn.Conv2d(in_channels[-1], width, 1), nn.BatchNorm2d(width, **BN)) \
            if max_level > 5 and in_channels[-1] != width else None
        channels = [*in_channels, *([width] * (max_level - 5))]
        nodes = fpn_topology(topology, min_level, max_level)
        self.layers = nn.ModuleList()
        for _ in range(repeats):
            layer = FPNLayer(nodes, self.levels, channels, width, fusion)
            self.layers.append(layer)
            channels = layer.out_channels

    def forward(self, c: list[Tensor]) -> list[Tensor]:
        ps = list(c)
        if len(self.levels) > 3:
            x = max_pool_same(self.p6(c[-1]) if self.p6 is not None else c[-1])
            ps.append(x)
            for _ in range(len(self.levels) - 4):
                x = max_pool_same(x)
                ps.append(x)
        for layer in self.layers:
            ps = layer(ps)
        return ps


class HeadNet(nn.Module):
    """Class or box net: ``depth`` separable convs shared over levels, a BN per level per repeat, swish, then a
    separable prediction conv to ``anchors * outputs`` channels per location."""

    def __init__(self, width: int, depth: int, levels: int, anchors: int, outputs: int, prior: float | None = None):
        super().__init__()
        self.convs = nn.ModuleList(SeparableConv(width, width) for _ in range(depth))
        self.bns = nn.ModuleList(nn.ModuleList(nn.BatchNorm2d(width, **BN) for _ in range(levels))
                                 for _ in range(depth))
        self.predict = SeparableConv(width, anchors * outputs)
        self.outputs = outputs
        if prior is not None:  # focal-loss prior on the class logits
            nn.init.constant_(self.predict[1].bias, -math.log((1 - prior) / prior))

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        out = []
        for lv, x in enumerate(feats):
            for conv, bns in zip(self.convs, self.bns):
                x = F.silu(bns[lv](conv(x)))
            y = self.predict(x)  # [B, A * K, H, W]
            out.append(y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, self.outputs))  # [B, H W A, K]
        return out


def resolve_config(name_or_phi) -> EfficientDetConfig:
    """``"d0".."d7x"`` (the official table) or an int phi (the paper's formulas)."""
    if isinstance(name_or_phi, EfficientDetConfig):
        return name_or_phi
    if isinstance(name_or_phi, int) and not isinstance(name_or_phi, bool):
        return efficientdet_config_from_phi(name_or_phi)
    if isinstance(name_or_phi, str):
        return efficientdet_config(name_or_phi)
    raise TypeError(f"name_or_phi must be 'd0'..'d7x', an int phi or an EfficientDetConfig, got {name_or_phi!r}")


def anchor_scale(cfg: EfficientDetConfig) -> float:
    return 5.0 if cfg.name in ("d7", "d7x") else 4.0


def max_level(cfg: EfficientDetConfig) -> int:
    return 8 if cfg.name == "d7x" else 7


class EfficientDetNet(nn.Module):
    """Backbone + feature pyramid + class and box nets: ``forward(x) -> (class logits, box deltas)``, each a
    list over levels of [B, H_l W_l A, K] / [B, H_l W_l A, 4]."""

    def __init__(self, cfg: EfficientDetConfig, num_classes: int = 90, topology: str = "bifpn",
                 fusion: str | None = None, anchors: int = 9):
        super().__init__()
        self.cfg = cfg
        backbone = efficientnet(cfg.backbone)
        self.stem, self.stages = backbone.stem, backbone.stages  # the classifier head is not part of the detector
        cs = [round_filters(backbone.cfg.stages[i].out_channels, backbone.cfg.width) for i in C_STAGES]
        top = max_level(cfg)
        self.pyramid = FeaturePyramid(cs, cfg.bifpn_width, cfg.bifpn_layers, 3, top, fusion or cfg.fusion, topology)
        n_levels = top - 2
        self.class_net = HeadNet(cfg.bifpn_width, cfg.head_layers, n_levels, anchors, num_classes, prior=0.01)
        self.box_net = HeadNet(cfg.bifpn_width, cfg.head_layers, n_levels, anchors, 4)

    def backbone_features(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in C_STAGES:
                out.append(x)
        return out  # C3, C4, C5

    def forward(self, x: Tensor):
        ps = self.pyramid(self.backbone_features(x))
        return self.class_net(ps), self.box_net(ps)


class _PyramidNeck(FeaturePyramid):
    """:class:`FeaturePyramid` as a neck of the FCOS detectors (``NeckConfig``: levels (3, 4, 5), width,
    ``repeats``, ``fusion``, ``extra_levels`` 0-3): the same fusion layer for every topology, so a neck
    ablation changes the graph alone."""

    topology = "bifpn"

    def __init__(self, cfg: NeckConfig, in_channels: list[int]):
        if tuple(cfg.levels) != (3, 4, 5):
            raise ValueError(f"the {self.topology} pyramid reads C3, C4, C5: levels must be (3, 4, 5), "
                             f"got {cfg.levels}")
        super().__init__([in_channels[lv - 1] for lv in cfg.levels], cfg.channels, cfg.repeats, 3,
                         5 + cfg.extra_levels, cfg.fusion, self.topology)
        self.out_levels = tuple(self.levels)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        return super().forward([feats[lv - 1] for lv in (3, 4, 5)])


@register_neck("effdet-bifpn")
class EffDetBiFPN(_PyramidNeck):
    topology = "bifpn"


@register_neck("effdet-fpn")
class EffDetFPN(_PyramidNeck):
    topology = "fpn"
