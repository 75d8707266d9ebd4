"""EfficientNet B0-B7 (Tan & Le, ICML 2019) from the B0 stage table and (width, depth, resolution) coefficients.

MBConv = [1x1 expand + BN + swish] (skipped when the expansion is 1) -> depthwise k x k (stride) + BN + swish ->
squeeze-excitation (reduce to ``max(1, int(C_in * 0.25))`` of the *block input* channels, swish, expand,
sigmoid gate) -> 1x1 project + BN; identity skip with stochastic depth when stride 1 and C_in == C_out.
Rounding follows the official ``round_filters`` / ``round_repeats``: ``max(8, int(c*w + 4) // 8 * 8)``, plus 8
if that falls below 90% of ``c*w``; repeats ``ceil(d * r)``. Stem 3x3 s2 -> 32, head 1x1 -> 1280 (both
width-rounded), global pool, dropout, FC. BN eps 1e-3. B0 with 1000 classes has 5,288,548 parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class MBConvStage:
    """One row of the stage table: ``repeats`` MBConv blocks (only the first is strided)."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    out_channels: int
    se_ratio: float = 0.25


@dataclass(frozen=True)
class EfficientNetConfig:
    """Width / depth multipliers, nominal resolution, dropout and the stage table (B0's by default)."""

    width: float = 1.0
    depth: float = 1.0
    resolution: int = 224
    dropout: float = 0.2
    stem: int = 32
    head: int = 1280
    stages: tuple[MBConvStage, ...] = (
        MBConvStage(1, 3, 1, 1, 16), MBConvStage(2, 3, 2, 6, 24), MBConvStage(2, 5, 2, 6, 40),
        MBConvStage(3, 3, 2, 6, 80), MBConvStage(3, 5, 1, 6, 112), MBConvStage(4, 5, 2, 6, 192),
        MBConvStage(1, 3, 1, 6, 320),
    )
    survival: float = 0.8  # stochastic depth: drop probability grows linearly to 1 - survival

    def __post_init__(self):
        if self.width <= 0 or self.depth <= 0 or self.resolution < 8:
            raise ValueError(f"width and depth must be > 0 and resolution >= 8, got {self.width}, {self.depth}, "
                             f"{self.resolution}")


# name -> (width, depth, resolution, dropout): the official table (factsheet E)
COEFFICIENTS = {
    "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5),
}


def round_filters(channels: float, width: float, divisor: int = 8) -> int:
    """Official ``round_filters``: scale, round to a multiple of ``divisor``, never below 90% of the target."""
    target = channels * width
    new = max(divisor, int(target + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * target else new)


def round_repeats(repeats: int, depth: float) -> int:
    """Official ``round_repeats``: ``ceil(depth * repeats)``."""
    return math.ceil(depth * repeats)


def config(name_or_coefficients) -> EfficientNetConfig:
    """``"b0".."b7"`` or a ``(width, depth, resolution[, dropout])`` tuple -> :class:`EfficientNetConfig`."""
    if isinstance(name_or_coefficients, str):
        key = name_or_coefficients.lower().removeprefix("efficientnet-").removeprefix("efficientnet_")
        if key not in COEFFICIENTS:
            raise ValueError(f"unknown EfficientNet {name_or_coefficients!r}; known: {', '.join(COEFFICIENTS)}")
        w, d, r, p = COEFFICIENTS[key]
        return EfficientNetConfig(w, d, r, p)
    values = tuple(name_or_coefficients)
    if len(values) not in (3, 4):
        raise ValueError(f"coefficients must be (width, depth, resolution[, dropout]), got {values}")
    return EfficientNetConfig(float(values[0]), float(values[1]), int(values[2]),
                              float(values[3]) if len(values) == 4 else 0.2)


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout, eps=1e-3)]
    if act:
        layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # [B, C, 1, 1]
        return x * torch.sigmoid(self.expand(nn.functional.silu(self.reduce(s))))


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-excitation (module docstring)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, se_ratio: float,
                 drop_prob: float = 0.0):
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = [] if expand == 1 else [_conv_bn(cin, mid, 1)]
        layers += [_conv_bn(mid, mid, kernel, stride, groups=mid),
                   SqueezeExcite(mid, max(1, int(cin * se_ratio))), _conv_bn(mid, cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        if not self.skip:
            return y
        if self.training and self.drop_prob > 0:  # stochastic depth, per sample
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= self.drop_prob
            y = y * keep / (1 - self.drop_prob)
        return x + y


class EfficientNet(nn.Module):
    """``forward(x [B,3,H,W]) -> logits [B, num_classes]``; ``features(x)`` returns every stage's output."""

    def __init__(self, cfg: EfficientNetConfig, num_classes: int = 1000, in_channels: int = 3, stem_stride: int = 2):
        super().__init__()
        self.cfg = cfg
        cin = round_filters(cfg.stem, cfg.width)
        self.stem = _conv_bn(in_channels, cin, 3, stem_stride)
        total = sum(round_repeats(s.repeats, cfg.depth) for s in cfg.stages)
        blocks, k = [], 0
        for s in cfg.stages:
            cout = round_filters(s.out_channels, cfg.width)
            stage = []
            for i in range(round_repeats(s.repeats, cfg.depth)):
                drop = (1 - cfg.survival) * k / total
                stage.append(MBConv(cin, cout, s.kernel, s.stride if i == 0 else 1, s.expand, s.se_ratio, drop))
                cin, k = cout, k + 1
            blocks.append(nn.Sequential(*stage))
        self.stages = nn.ModuleList(blocks)
        self.head = _conv_bn(cin, round_filters(cfg.head, cfg.width), 1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(round_filters(cfg.head, cfg.width), num_classes)

    def features(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.features(x)[-1])  # [B, C_head, h, w]
        return self.fc(self.dropout(x.mean(dim=(2, 3))))


def efficientnet(name_or_coefficients="b0", num_classes: int = 1000, **kwargs) -> EfficientNet:
    """Build EfficientNet ``"b0".."b7"`` or from ``(width, depth, resolution[, dropout])``."""
    cfg = name_or_coefficients if isinstance(name_or_coefficients, EfficientNetConfig) else config(
        name_or_coefficients)
    return EfficientNet(cfg, num_classes, **kwargs)


def load_torchvision_weights(model: EfficientNet, source, bn_eps: float | None = None) -> EfficientNet:
    """Copy a torchvision EfficientNet (module or state dict) into ``model`` by position: both state dicts hold
    the same tensors in the same order (names differ). BN ``eps`` follows the source -- its modules' value when
    a module is given (torchvision uses 1e-5 where the official TF code and this package use 1e-3), else
    ``bn_eps`` when set -- so the logits match. Shapes are checked pair by pair; a mismatch names both keys."""
    if isinstance(source, nn.Module):
        state = source.state_dict()
        bn_eps = next((m.eps for m in source.modules() if isinstance(m, nn.BatchNorm2d)), bn_eps)
    elif isinstance(source, dict):
        state = source
    else:
        raise TypeError(f"source must be a torchvision EfficientNet or its state_dict, got {type(source).__name__}")
    ours = model.state_dict()
    if len(ours) != len(state):
        raise ValueError(f"the source has {len(state)} tensors, this EfficientNet {len(ours)}: not the same variant "
                         f"({model.cfg}); build ours with the source's name (b0..b7) and num_classes")
    mapped = {}
    for (k, v), (sk, sv) in zip(ours.items(), state.items()):
        if tuple(v.shape) != tuple(sv.shape):
            raise ValueError(f"shape mismatch: ours {k} {tuple(v.shape)} vs source {sk} {tuple(sv.shape)}")
        mapped[k] = sv
    model.load_state_dict(mapped)
    if bn_eps is not None:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = bn_eps
    return model
