"""``Detector`` = backbone (ZenNAS string or a registered module) + neck (registry) + FCOS-style head;
:func:`build_detector`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detdesign.detection.backbone import create_backbone
from detdesign.detection.config import DetectorConfig
from detdesign.detection.head import create_head
from detdesign.detection.neck import create_neck

# ImageNet-style normalisation constants, applied inside the model so inputs are plain uint8 -> float images
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class Detector(nn.Module):
    """``forward(images uint8|float [B,3,S,S]) -> per-level head outputs``; ``loss`` and ``predict``."""

    def __init__(self, cfg: DetectorConfig):
        super().__init__()
        if cfg.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {cfg.num_classes}")
        self.cfg = cfg
        self.backbone = create_backbone(cfg.backbone)
        absent = [lv for lv in getattr(cfg.neck, "levels", ()) if self.backbone.channels[lv - 1] is None]
        if absent:
            raise ValueError(f"the neck reads levels {cfg.neck.levels} but backbone {cfg.backbone!r} gives no "
                             f"C{absent[0]}; return that map from the module or set NeckConfig(levels=...)")
        self.neck = create_neck(cfg.neck, self.backbone.channels)
        max_stride = 2 ** max(self.neck.out_levels)
        if cfg.image_size % max_stride:
            raise ValueError(f"image_size {cfg.image_size} must be divisible by the largest stride {max_stride}; "
                             f"use e.g. {cfg.image_size // max_stride * max_stride or max_stride}")
        strides = tuple(2 ** lv for lv in self.neck.out_levels)
        self.head = create_head(cfg.head, cfg.neck.channels, cfg.num_classes, strides)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255, persistent=False)

    def features(self, images: Tensor) -> list[Tensor]:
        """Backbone levels C1..C5 of normalised images (what routers and entropy proxies read)."""
        return self.backbone((images.float() - self.mean) / self.std)

    def check_images(self, images: Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, S, S], got {tuple(images.shape)}")
        if images.shape[-1] != self.cfg.image_size or images.shape[-2] != self.cfg.image_size:
            raise ValueError(f"images must be {self.cfg.image_size}x{self.cfg.image_size} (letterbox them), "
                             f"got {tuple(images.shape[-2:])}")

    def check_labels(self, targets: list[dict]) -> None:
        for t in targets:
            if len(t["labels"]) and (t["labels"].min() < 0 or t["labels"].max() >= self.cfg.num_classes):
                raise ValueError(f"class ids must lie in [0, {self.cfg.num_classes}), got {t['labels'].tolist()}")

    def forward(self, images: Tensor):
        self.check_images(images)
        return self.head(self.neck(self.features(images)))

    def loss(self, images: Tensor, targets: list[dict]):
        """(batch loss, per-image loss dict); see :meth:`FCOSHead.loss`. Losses are computed in float32
        (head outputs are cast up), so a bf16-autocast forward never rounds a loss."""
        self.check_labels(targets)
        return self.head.loss(_float(self(images)), targets)

    @torch.no_grad()
    def predict(self, images: Tensor) -> list[dict]:
        """Detections per image in input-pixel coordinates (eval mode is the caller's choice)."""
        return self.head.decode(_float(self(images)), self.cfg.image_size)


def _float(outs):
    """Head outputs (per level, a tuple of tensors) in float32."""
    return [tuple(o.float() for o in level) for level in outs]


def build_detector(cfg: DetectorConfig, seed: int = 0) -> Detector:
    """Build a detector with a seeded initialisation."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Detector(cfg)
