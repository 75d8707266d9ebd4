"""A trainable EfficientDet with the interface of :class:`~detdesign.detection.model.Detector` (``loss``,
``predict``, ``features``), so :func:`~detdesign.detection.training.fit` trains it and the pycocotools path
evaluates it like the FCOS detectors.

Anchors, matching and box coding use torchvision's detection utilities: ``AnchorGenerator`` (9 anchors per
location: sizes ``anchor_scale * stride * 2^{0, 1/3, 2/3}``, aspect ratios 0.5/1/2; its cell anchors are
replaced by unrounded ones, as the official anchors are not rounded to pixels), ``Matcher`` (IoU >= 0.5
positive, < 0.5 negative, each box's best anchor kept, as the official ``force_match_for_each_row``) and
``BoxCoder`` (weights 1). Losses as the official code: sigmoid focal loss (alpha 0.25, gamma 1.5) over all
anchors and Huber loss (delta 0.1) over positive anchors, each normalised by the image's positives, total =
class + 50 x box. ``build_efficientdet("d0", num_classes=90)`` gives the official D0; ``image_size`` scales it
down to a CPU-sized input (anchors follow the strides; the network is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import batched_nms, box_iou, clip_boxes_to_image, sigmoid_focal_loss

from detdesign.data.cifar import MEAN, STD
from detdesign.detection.efficientdet import (
    EfficientDetNet,
    anchor_scale,
    max_level,
    resolve_config,
)

SCALES = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
RATIOS = (0.5, 1.0, 2.0)
BOX_WEIGHT = 50.0  # official box_loss_weight
HUBER_DELTA = 0.1


@dataclass(frozen=True)
class EfficientDetSpec:
    """What to build: ``model`` ("d0".."d7x" or an int phi), classes, input size (None = the official one), the
    pyramid's topology ("bifpn" | "fpn") and fusion (None = the config's), and the decoding thresholds."""

    model: str | int = "d0"
    num_classes: int = 90
    image_size: int | None = None
    topology: str = "bifpn"
    fusion: str | None = None
    score_threshold: float = 0.05
    nms_iou: float = 0.5
    max_detections: int = 100
    pre_nms_top_k: int = 1000

    def __post_init__(self):
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {self.num_classes!r}")
        cfg = resolve_config(self.model)
        stride = 2 ** max_level(cfg)
        size = self.size
        if not isinstance(size, int) or size < stride or size % stride:
            raise ValueError(f"image_size must be a positive multiple of the largest stride {stride} for "
                             f"{cfg.name}, got {size!r}; use e.g. {max(stride, (size or 0) // stride * stride)}")

    @property
    def size(self) -> int:
        return self.image_size if self.image_size is not None else resolve_config(self.model).input_size


def _cell_anchors(sizes) -> Tensor:
    """[A, 4] anchors centred on 0 (ratio-major, scale-minor, as torchvision orders them), unrounded."""
    h = torch.sqrt(torch.tensor(RATIOS, dtype=torch.float32))
    ws = (1 / h[:, None] * torch.tensor(sizes)[None, :]).reshape(-1)
    hs = (h[:, None] * torch.tensor(sizes)[None, :]).reshape(-1)
    return torch.stack([-ws, -hs, ws, hs], 1) / 2


class EfficientDet(nn.Module):
    """``forward(images uint8|float [B,3,S,S]) -> (class logits, box deltas)`` per level; ``loss``, ``predict``."""

    def __init__(self, spec: EfficientDetSpec):
        super().__init__()
        self.spec = spec
        self.cfg = resolve_config(spec.model)
        self.net = EfficientDetNet(self.cfg, spec.num_classes, spec.topology, spec.fusion)
        levels = range(3, max_level(self.cfg) + 1)
        s = anchor_scale(self.cfg)
        sizes = tuple(tuple(s * 2 ** lv * k for k in SCALES) for lv in levels)
        self.anchor_gen = AnchorGenerator(sizes, (RATIOS,) * len(levels))
        # torchvision rounds its cell anchors to whole pixels; the official anchors are not rounded
        self.anchor_gen.cell_anchors = [_cell_anchors(sz) for sz in sizes]
        grids = [(spec.size // 2 ** lv, spec.size // 2 ** lv) for lv in levels]
        strides = [[torch.tensor(2 ** lv), torch.tensor(2 ** lv)] for lv in levels]
        self.register_buffer("anchors", torch.cat(self.anchor_gen.grid_anchors(grids, strides)), persistent=False)
        self.matcher = det_utils.Matcher(0.5, 0.5, allow_low_quality_matches=True)
        self.coder = det_utils.BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255, persistent=False)

    def check_images(self, images: Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (self.spec.size,) * 2:
            raise ValueError(f"images must be [B, 3, {self.spec.size}, {self.spec.size}], got {tuple(images.shape)}")

    def features(self, images: Tensor) -> list[Tensor]:
        """Backbone levels C3, C4, C5 of normalised images."""
        return self.net.backbone_features((images.float() - self.mean) / self.std)

    def forward(self, images: Tensor):
        self.check_images(images)
        ps = self.net.pyramid(self.features(images))
        cls = torch.cat([c.float() for c in self.net.class_net(ps)], 1)  # [B, N, K]
        box = torch.cat([b.float() for b in self.net.box_net(ps)], 1)  # [B, N, 4]
        return cls, box

    def loss(self, images: Tensor, targets: list[dict]):
        """(mean over images of the per-image loss, dict of per-image ``loss``, ``cls``, ``box``)."""
        cls, box = self(images)
        per = {"loss": [], "cls": [], "box": []}
        for i, t in enumerate(targets):
            labels = t["labels"].long()
            if len(labels) and (labels.min() < 0 or labels.max() >= self.spec.num_classes):
                raise ValueError(f"class ids must lie in [0, {self.spec.num_classes}), got {labels.tolist()}")
            onehot = torch.zeros_like(cls[i])
            if len(labels):
                match = self.matcher(box_iou(t["boxes"].float(), self.anchors))  # [N] gt index, or -1 / -2
                pos = match >= 0
                onehot[pos, labels[match[pos]]] = 1.0
                target = self.coder.encode_single(t["boxes"].float()[match[pos]], self.anchors[pos])
                npos = max(int(pos.sum()), 1)
                l_box = F.huber_loss(box[i][pos], target, delta=HUBER_DELTA, reduction="sum") / (4 * npos)
            else:
                npos, l_box = 1, box[i].sum() * 0.0
            l_cls = sigmoid_focal_loss(cls[i], onehot, alpha=0.25, gamma=1.5, reduction="sum") / npos
            for k, v in (("cls", l_cls), ("box", l_box), ("loss", l_cls + BOX_WEIGHT * l_box)):
                per[k].append(v)
        per = {k: torch.stack(v) for k, v in per.items()}
        return per["loss"].mean(), per

    @torch.no_grad()
    def predict(self, images: Tensor) -> list[dict]:
        """Boxes (xyxy input pixels), scores and 0-based labels per image after class-wise NMS."""
        cls, box = self(images)
        s, out = self.spec, []
        for i in range(cls.shape[0]):
            scores = torch.sigmoid(cls[i]).flatten()  # [N * K]
            cand, idx = scores.topk(min(s.pre_nms_top_k, scores.numel()))
            keep = cand > s.score_threshold
            cand, idx = cand[keep], idx[keep]
            anchor, label = idx // s.num_classes, idx % s.num_classes
            boxes = self.coder.decode_single(box[i][anchor], self.anchors[anchor])
            boxes = clip_boxes_to_image(boxes, (s.size, s.size))
            k = batched_nms(boxes, cand, label, s.nms_iou)[: s.max_detections]
            out.append({"boxes": boxes[k], "scores": cand[k], "labels": label[k]})
        return out


def build_efficientdet(name_or_phi="d0", num_classes: int = 90, seed: int = 0, **spec) -> EfficientDet:
    """A seeded EfficientDet: ``"d0".."d7x"`` (official table) or an int phi (the paper's formulas);
    ``spec`` sets the other :class:`EfficientDetSpec` fields (e.g. ``image_size=256``)."""
    if isinstance(name_or_phi, EfficientDetSpec):
        s = name_or_phi
    else:
        s = EfficientDetSpec(model=name_or_phi, num_classes=num_classes, **spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return EfficientDet(s)
