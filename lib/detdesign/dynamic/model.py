"""DynamicDet (Lin et al., CVPR 2023): two cascaded detectors and an adaptive router.

Detector 1 = backbone 1 + neck 1 + head 1. The router reads backbone 1's multi-scale features
F1 = [C1..C5] and outputs a difficulty score phi in (0, 1). For a *hard* image, backbone 2 runs on the same
image with F1 embedded by the composite connection of the official code (``CBLinear`` / ``CBFuse`` in
``cfg/dy-yolov7-step1.yaml``): stage l of backbone 2 (l = 1..5, C1 included) receives, right after its
downsampling layer and before the rest of the stage, ``sum_{j >= l} up_nearest(conv1x1_{j->l}(F1_j))`` (1x1
convs with bias, the same level included). Neck 2 and head 2 read backbone 2's stage outputs only (official
``b2_save``), so detector 2 sees backbone 1 only through what backbone 2 made of it. Easy images exit after
detector 1.

Sign convention: phi is the *difficulty*; an image is hard when ``phi > threshold``. The official code's
``score`` is ``1 - phi`` and routes hard when ``score < dy_thres``; both describe the same rule. We rank and
threshold on the router's logit z (phi = sigmoid(z)), the same order with the ties of saturated phi broken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detdesign.detection.config import DetectorConfig
from detdesign.detection.model import Detector


@dataclass(frozen=True)
class DynamicConfig:
    """Two detector configs (same input size and classes) and the router's hidden-width divisor."""

    first: DetectorConfig = field(default_factory=DetectorConfig)
    second: DetectorConfig = field(default_factory=DetectorConfig)
    router_reduction: int = 4  # FC d -> floor(d / 4) -> 1
    # the checkpoint key of a trained standalone detector whose weights detector 1 takes, frozen: stage 1 then
    # trains detector 2 (and the composite connection) alone. Empty: the paper's joint training of both.
    first_from: str = field(default="", repr=False)

    def __post_init__(self):
        if self.first.image_size != self.second.image_size or self.first.num_classes != self.second.num_classes:
            raise ValueError("both detectors need the same image_size and num_classes, got "
                             f"{self.first.image_size}/{self.second.image_size} and "
                             f"{self.first.num_classes}/{self.second.num_classes}")
        if self.router_reduction < 1:
            raise ValueError(f"router_reduction must be >= 1, got {self.router_reduction}")
        if not isinstance(self.first_from, str):
            raise TypeError(f"first_from is a checkpoint key (str; empty for joint training), got {self.first_from!r}")

    @property
    def frozen_first(self) -> bool:
        """Detector 1 is a trained detector, frozen (weights, BN statistics); stage 1 trains detector 2 alone."""
        return bool(self.first_from)


class AdaptiveRouter(nn.Module):
    """phi = sigmoid(FC(ReLU(FC(concat_i GAP(F1_i))))): [B] difficulty in (0, 1) (DynamicDet section 3.2).

    One addition to the paper: the pooled vector is standardised with per-dimension ``mean``/``std`` buffers
    (identity until :meth:`set_normalisation`; stage-2 training sets them from the training images). Pooled
    features of a trained backbone reach magnitudes of tens, which saturates the sigmoid at initialisation and
    stalls the router (we saw phi = 1.000 for every image without it).
    """

    def __init__(self, channels: list[int], reduction: int = 4):
        super().__init__()
        d = sum(channels)
        self.fc1 = nn.Linear(d, max(1, d // reduction))
        self.fc2 = nn.Linear(max(1, d // reduction), 1)
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))

    @torch.no_grad()
    def set_normalisation(self, pooled: Tensor) -> None:
        """Standardise future inputs with the mean and std of ``pooled`` [N, d]."""
        self.mean.copy_(pooled.mean(0))
        self.std.copy_(pooled.std(0).clamp(min=1e-6))

    @staticmethod
    def pool(feats: list[Tensor]) -> Tensor:
        """Concatenated global average pools of every scale: [B, d]."""
        return torch.cat([f.mean(dim=(2, 3)) for f in feats], dim=1)

    def logit_from_pooled(self, pooled: Tensor) -> Tensor:
        """The router's logit z [B] (phi = sigmoid(z)) of pooled features [B, d]."""
        z = (pooled - self.mean) / self.std  # [B, d]
        return self.fc2(F.relu(self.fc1(z))).squeeze(1)  # [B]

    def from_pooled(self, pooled: Tensor) -> Tensor:
        return torch.sigmoid(self.logit_from_pooled(pooled))  # [B]

    def logit(self, feats: list[Tensor]) -> Tensor:
        """z [B] with phi = sigmoid(z): the scale routing ranks and thresholds on. A saturated router gives many
        images phi = 1.0 (or 0.0) in float32 (|z| > ~17); their logits stay distinct, so ranking on z breaks
        those ties by the router's own output instead of by image order."""
        return self.logit_from_pooled(self.pool(feats))

    def forward(self, feats: list[Tensor]) -> Tensor:
        return torch.sigmoid(self.logit(feats))


class Composite(nn.Module):
    """The official composite connection: for each level i of backbone 2 (0-based, C1 = 0), one 1x1 conv with
    bias from every level j >= i of backbone 1 (the same level included) to the width of stage i's first layer."""

    def __init__(self, channels1: list[int], channels2: list[int]):
        super().__init__()
        n = len(channels1)
        self.convs = nn.ModuleDict({f"{j}_{i}": nn.Conv2d(channels1[j], channels2[i], 1)
                                    for i in range(n) for j in range(i, n)})

    def sources(self, i: int) -> list[int]:
        """The backbone-1 levels composed into backbone 2's level ``i``: every ``j >= i``."""
        return [int(k.split("_")[0]) for k in self.convs if int(k.split("_")[1]) == i]

    def forward(self, i: int, f1: list[Tensor], size) -> Tensor:
        """What is added to backbone 2's level ``i`` right after its downsampling layer: [B, C2_i, *size]."""
        out = 0
        for j in self.sources(i):
            y = self.convs[f"{j}_{i}"](f1[j])
            out = out + (y if tuple(y.shape[-2:]) == tuple(size) else F.interpolate(y, size=size, mode="nearest"))
        return out


class DynamicDetector(nn.Module):
    """``loss`` (stage 1: L1 + L2, or L2 alone with a frozen detector 1), ``router_loss`` (stage 2) and
    ``predict`` with per-image routing."""

    def __init__(self, cfg: DynamicConfig):
        super().__init__()
        self.cfg = cfg
        self.first = Detector(cfg.first)
        self.second = Detector(cfg.second)
        if len(self.first.backbone.channels) != len(self.second.backbone.channels):
            raise ValueError("both backbones need the same number of stages")
        bb2 = self.second.backbone
        starts = [0, *(e + 1 for e in bb2.stage_ends[:-1])]  # the first block of every stage
        self._stage_starts = starts
        self.composite = Composite(self.first.backbone.channels, [bb2.spec[k].out_channels for k in starts])
        self.router = AdaptiveRouter(self.first.backbone.channels, cfg.router_reduction)
        if cfg.frozen_first:
            self.first.requires_grad_(False)

    def train(self, mode: bool = True):
        """As ``nn.Module.train``; a frozen detector 1 stays in eval mode (its BN statistics never move)."""
        super().train(mode)
        if self.cfg.frozen_first:
            self.first.eval()
        return self

    def load_first(self, state: dict) -> None:
        """Detector 1's weights from a standalone detector's state dict (``Detector`` keys; an EMA copy's
        ``module.`` prefix and ``n_averaged`` are dropped). Every key must match: a different architecture fails."""
        sd = {k.removeprefix("module."): v for k, v in state.items() if k != "n_averaged"}
        self.first.load_state_dict(sd, strict=True)

    def features1(self, images: Tensor) -> list[Tensor]:
        self.first.check_images(images)
        return self.first.features(images)

    def features2(self, images: Tensor, f1: list[Tensor]) -> list[Tensor]:
        """Backbone 2 on ``images``: at the start of stage i, after the block's first (downsampling) unit, F1's
        levels j >= i are composed in; the returned stage outputs are what neck 2 reads (nothing added after)."""
        bb = self.second.backbone
        x = (images.float() - self.second.mean) / self.second.std
        feats = []
        for k, block in enumerate(bb.blocks):
            if k in self._stage_starts:
                i = self._stage_starts.index(k)
                x = block[0](x)  # the downsampling unit: [B, C2_i, H_i, W_i]
                x = x + self.composite(i, f1, x.shape[-2:])
                for unit in block[1:]:
                    x = unit(x)
            else:
                x = block(x)
            if k in bb.stage_ends:
                feats.append(x)
        return feats

    def heads(self, images: Tensor):
        """(F1, head outputs of detector 1, head outputs of detector 2) for every image."""
        f1 = self.features1(images)
        outs1 = self.first.head(self.first.neck(f1))
        outs2 = self.second.head(self.second.neck(self.features2(images, f1)))
        return f1, outs1, outs2

    def loss(self, images: Tensor, targets: list[dict]):
        """Stage 1: mean over images of L1 + L2; per-image dict with ``loss``, ``l1``, ``l2``."""
        self.first.check_labels(targets)
        if self.cfg.frozen_first:  # detector 1 is fixed: no graph through it, its loss only reported
            with torch.no_grad():
                f1 = self.features1(images)
                _, per1 = self.first.head.loss(self.first.head(self.first.neck(f1)), targets)
            outs2 = self.second.head(self.second.neck(self.features2(images, f1)))
            _, per2 = self.second.head.loss(outs2, targets)
            per = {"loss": per2["loss"], "l1": per1["loss"], "l2": per2["loss"]}
            return per["loss"].mean(), per
        _, outs1, outs2 = self.heads(images)
        _, per1 = self.first.head.loss(outs1, targets)
        _, per2 = self.second.head.loss(outs2, targets)
        per = {"loss": per1["loss"] + per2["loss"], "l1": per1["loss"], "l2": per2["loss"]}
        return per["loss"].mean(), per

    @torch.no_grad()
    def difficulty(self, images: Tensor) -> Tensor:
        """Router difficulty phi [B] (reads detector 1's backbone only)."""
        return self.router(self.features1(images))

    @torch.no_grad()
    def difficulty_logit(self, images: Tensor) -> Tensor:
        """The router's logit z [B] (phi = sigmoid(z)): what :meth:`predict`'s threshold compares against."""
        return self.router.logit(self.features1(images))

    @torch.no_grad()
    def predict(self, images: Tensor, threshold: float | None = None, route: Tensor | None = None):
        """Detections per image in input order, and the bool mask of images sent to detector 2.

        ``route`` (bool [B]) forces the routing (tests, random routing); otherwise hard = z > threshold, with
        ``threshold`` on the router's logit scale z (phi = sigmoid(z); the same rule as phi > sigmoid(threshold),
        but saturated scores stay apart: :func:`~detdesign.dynamic.inference.threshold` of validation logits), and
        ``threshold=None`` sends every image to the cascade (what stage 1 trains: validation curves use it).
        Each image is routed on its own: detector 2 runs only on the hard subset of the batch.
        """
        if threshold is not None and not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
            raise ValueError(f"threshold must be a finite number (or None: every image to the cascade), got "
                             f"{threshold!r}; a NaN threshold would route every image as easy")
        f1 = self.features1(images)
        if route is None and threshold is None:
            route = torch.ones(images.shape[0], dtype=torch.bool, device=images.device)
        if route is None:
            z = self.router.logit(f1)
            if not torch.isfinite(z).all():
                raise ValueError(f"the router gave {int((~torch.isfinite(z)).sum())} non-finite scores; a NaN "
                                 "compares false and would route its image as easy -- retrain or check the router")
            route = z > threshold
        route = route.to(torch.bool).reshape(-1)
        if route.shape[0] != images.shape[0]:
            raise ValueError(f"route must have one entry per image ({images.shape[0]}), got {route.shape[0]}")
        size = self.cfg.first.image_size
        easy = (~route).nonzero().squeeze(1)
        hard = route.nonzero().squeeze(1)
        out: list = [None] * images.shape[0]
        dets1 = self.first.head.decode(self.first.head(self.first.neck([f[easy] for f in f1])), size)
        for k, i in enumerate(easy.tolist()):
            out[i] = dets1[k]
        f2 = self.features2(images[hard], [f[hard] for f in f1])
        dets2 = self.second.head.decode(self.second.head(self.second.neck(f2)), size)
        for k, i in enumerate(hard.tolist()):
            out[i] = dets2[k]
        return out, route


def router_loss(phi: Tensor, l1: Tensor, l2: Tensor, delta: float) -> Tensor:
    """DynamicDet stage-2 loss, mean over images: (1 - phi)(L1 - delta/2) + phi (L2 + delta/2).

    L1, L2 are detached per-image losses; d loss / d phi = (L2 - L1) + delta, so images whose L1 - L2 exceeds
    delta (detector 2 helps more than usual) are pushed towards phi = 1 (hard).
    """
    l1, l2 = l1.detach(), l2.detach()
    return ((1 - phi) * (l1 - delta / 2) + phi * (l2 + delta / 2)).mean()
