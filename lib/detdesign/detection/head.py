"""An FCOS-style anchor-free head (Tian et al., ICCV 2019), shared across pyramid levels.

Why FCOS: it has no anchor hyper-parameters to tune per dataset (BCCD's objects span 20-300 px), its
per-location targets make per-image losses natural (DynamicDet's router needs them), and its centre-ness
branch suppresses low-quality boxes far from object centres.

Per level with stride s and feature map [B, C, H, W]:
    cls_logits [B, K, H, W], box_ltrb [B, 4, H, W] (distances to the box sides / s, >= 0), ctr [B, 1, H, W].
Targets: a location is positive for the smallest-area box that contains it, lies within
``center_sampling * s`` of the box centre and whose max side distance falls in the level's size range.
Losses per image (torchvision.ops): sigmoid focal loss (alpha 0.25, gamma 2) summed and divided by the
image's positives, GIoU loss on positives weighted by the centre-ness target, BCE on centre-ness. The batch
loss is the mean of the per-image losses (FCOS normalises over the whole batch instead; per-image
normalisation makes each image's loss a meaningful number of its own).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms, generalized_box_iou_loss, sigmoid_focal_loss

from detdesign.detection.config import HeadConfig
from detdesign.registry import Registry

INF = 1e8
HEADS = Registry("head")
register_head = HEADS.register


def list_heads() -> list[str]:
    """Registered head kinds (``HeadConfig.kind``)."""
    return HEADS.names()


def create_head(cfg: HeadConfig, in_channels: int, num_classes: int, strides: tuple[int, ...]) -> nn.Module:
    """The head ``cfg.kind`` for a neck of ``in_channels`` and levels at ``strides``."""
    return HEADS.create(cfg.kind, cfg, in_channels, num_classes, strides)


def norm_groups(channels: int, most: int = 16) -> int:
    """GroupNorm groups for ``channels``: the largest divisor of it up to ``most`` (16 for 64/128/256 channels,
    11 for EfficientDet-D1's 88), so the head accepts any width."""
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"head channels must be a positive int, got {channels!r}")
    return max(g for g in range(1, min(most, channels) + 1) if channels % g == 0)


def _tower(convs: int, channels: int) -> nn.Sequential:
    layers = []
    for _ in range(convs):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(norm_groups(channels), channels),
                   nn.ReLU()]
    return nn.Sequential(*layers)


@register_head("fcos")
class FCOSHead(nn.Module):
    """Shared towers and predictors; ``forward(feats) -> list of (cls, box, ctr)`` per level."""

    def __init__(self, cfg: HeadConfig, in_channels: int, num_classes: int, strides: tuple[int, ...]):
        super().__init__()
        if in_channels != cfg.channels:
            raise ValueError(f"head channels {cfg.channels} must equal the neck's output channels {in_channels}")
        self.cfg, self.num_classes, self.strides = cfg, num_classes, tuple(strides)
        self.cls_tower, self.box_tower = _tower(cfg.convs, cfg.channels), _tower(cfg.convs, cfg.channels)
        self.cls_logits = nn.Conv2d(cfg.channels, num_classes, 3, padding=1)
        self.box_pred = nn.Conv2d(cfg.channels, 4, 3, padding=1)
        self.ctr_pred = nn.Conv2d(cfg.channels, 1, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(len(strides)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - 0.01) / 0.01))  # prior 0.01
        bounds = cfg.size_ranges
        if bounds is None:
            bounds = tuple(2 ** (5 + i) for i in range(len(strides) - 1))  # 32, 64, ...: FCOS's 64, 128, ... / 2
        if len(bounds) != len(strides) - 1 or list(bounds) != sorted(bounds):
            raise ValueError(f"size_ranges needs {len(strides) - 1} increasing boundaries for {len(strides)} "
                             f"levels, got {bounds}")
        lo = [0.0, *bounds]
        self.size_ranges = [(lo[i], lo[i + 1] if i + 1 < len(strides) else INF) for i in range(len(strides))]

    def forward(self, feats: list[Tensor]) -> list[tuple[Tensor, Tensor, Tensor]]:
        outs = []
        for i, f in enumerate(feats):
            c, b = self.cls_tower(f), self.box_tower(f)
            box = F.relu(self.box_pred(b) * self.scales[i])  # [B, 4, H, W] in stride units
            outs.append((self.cls_logits(c), box, self.ctr_pred(b)))
        return outs

    @staticmethod
    def points(h: int, w: int, stride: int, device=None) -> Tensor:
        """Centres of the feature-map cells in image pixels, [H*W, 2] as (x, y)."""
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        return torch.stack([xs.flatten(), ys.flatten()], dim=1).float() * stride + stride // 2

    def _flatten(self, outs):
        """Concatenate levels: cls [B, N, K], box [B, N, 4] (pixels), ctr [B, N], points [N, 2], strides [N]."""
        cls, box, ctr, pts, strides = [], [], [], [], []
        for (c, b, t), s in zip(outs, self.strides):
            n, _, h, w = c.shape
            cls.append(c.permute(0, 2, 3, 1).reshape(n, h * w, self.num_classes))  # n may be 0
            box.append(b.permute(0, 2, 3, 1).reshape(n, h * w, 4) * s)
            ctr.append(t.reshape(n, h * w))
            pts.append(self.points(h, w, s, c.device))
            strides.append(torch.full((h * w,), s, device=c.device))
        return torch.cat(cls, 1), torch.cat(box, 1), torch.cat(ctr, 1), torch.cat(pts), torch.cat(strides)

    def _targets(self, boxes: Tensor, labels: Tensor, pts: Tensor, strides: Tensor, level_of: Tensor):
        """Per location: class index (-1 = background), target box [N, 4] (xyxy)."""
        n = len(pts)
        if len(boxes) == 0:
            return (torch.full((n,), -1, dtype=torch.long, device=pts.device),
                    torch.zeros(n, 4, device=pts.device))
        x, y = pts[:, 0:1], pts[:, 1:2]  # [N, 1]
        ltrb = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], dim=2)
        inside = ltrb.min(dim=2).values > 0  # [N, G]
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        r = self.cfg.center_sampling * strides[:, None]
        near = ((x - cx).abs() < r) & ((y - cy).abs() < r)
        lo = torch.tensor([a for a, _ in self.size_ranges], device=pts.device)[level_of][:, None]
        hi = torch.tensor([b for _, b in self.size_ranges], device=pts.device)[level_of][:, None]
        m = ltrb.max(dim=2).values
        ok = inside & near & (m >= lo) & (m <= hi)
        area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand(n, -1)
        area = torch.where(ok, area, torch.full_like(area, INF))
        best_area, best = area.min(dim=1)
        cls = torch.where(best_area < INF, labels[best], torch.full_like(best, -1))
        return cls, boxes[best]

    @torch.no_grad()
    def level_counts(self, image_size: int, targets: list[dict]) -> list[int]:
        """Positive locations per level (P3, P4, ...) that :meth:`loss` would assign for ``targets``."""
        pts, strides, level_of = [], [], []
        for i, s in enumerate(self.strides):
            h = w = -(-image_size // s)
            pts.append(self.points(h, w, s))
            strides.append(torch.full((h * w,), s))
            level_of.append(torch.full((h * w,), i))
        pts, strides, level_of = torch.cat(pts), torch.cat(strides), torch.cat(level_of)
        counts = torch.zeros(len(self.strides), dtype=torch.long)
        for t in targets:
            tcls, _ = self._targets(t["boxes"].float(), t["labels"].long(), pts, strides, level_of)
            counts += torch.bincount(level_of[tcls >= 0], minlength=len(self.strides))
        return counts.tolist()

    def loss(self, outs, targets: list[dict]) -> tuple[Tensor, dict]:
        """Mean over images of the per-image loss; the dict holds per-image ``loss``, ``cls``, ``box``, ``ctr``."""
        cls, box, ctr, pts, strides = self._flatten(outs)
        level_of = torch.cat([torch.full((o[0].shape[2] * o[0].shape[3],), i, device=cls.device)
                              for i, o in enumerate(outs)])
        per = {k: [] for k in ("loss", "cls", "box", "ctr")}
        for i, t in enumerate(targets):
            tcls, tbox = self._targets(t["boxes"].float(), t["labels"].long(), pts, strides, level_of)
            pos = tcls >= 0
            npos = max(int(pos.sum()), 1)
            onehot = torch.zeros_like(cls[i])
            onehot[pos, tcls[pos]] = 1.0
            l_cls = sigmoid_focal_loss(cls[i], onehot, alpha=0.25, gamma=2.0, reduction="sum") / npos
            if pos.any():
                p, tb = pts[pos], tbox[pos]
                ltrb_t = torch.stack([p[:, 0] - tb[:, 0], p[:, 1] - tb[:, 1], tb[:, 2] - p[:, 0],
                                      tb[:, 3] - p[:, 1]], 1)
                lr, tb_ = ltrb_t[:, [0, 2]], ltrb_t[:, [1, 3]]
                ctr_t = torch.sqrt((lr.min(1).values / lr.max(1).values) * (tb_.min(1).values / tb_.max(1).values))
                pb = box[i][pos]
                pred = torch.stack([p[:, 0] - pb[:, 0], p[:, 1] - pb[:, 1], p[:, 0] + pb[:, 2], p[:, 1] + pb[:, 3]], 1)
                giou = generalized_box_iou_loss(pred, tb, reduction="none")
                l_box = (giou * ctr_t).sum() / ctr_t.sum().clamp(min=1e-6)
                l_ctr = F.binary_cross_entropy_with_logits(ctr[i][pos], ctr_t, reduction="mean")
            else:
                l_box = l_ctr = cls[i].sum() * 0.0
            for k, v in (("cls", l_cls), ("box", l_box), ("ctr", l_ctr), ("loss", l_cls + l_box + l_ctr)):
                per[k].append(v)
        per = {k: torch.stack(v) for k, v in per.items()}
        return per["loss"].mean(), per

    @torch.no_grad()
    def decode(self, outs, image_size: int) -> list[dict]:
        """Boxes (xyxy pixels of the network input), scores and labels per image, after class-wise NMS."""
        cls, box, ctr, pts, _ = self._flatten(outs)
        results = []
        for i in range(cls.shape[0]):
            scores = torch.sqrt(torch.sigmoid(cls[i]) * torch.sigmoid(ctr[i])[:, None])  # [N, K]
            flat = scores.flatten()
            keep = flat > self.cfg.score_threshold
            cand = flat[keep]
            idx = keep.nonzero().squeeze(1)
            if len(cand) > self.cfg.pre_nms_top_k:
                cand, top = cand.topk(self.cfg.pre_nms_top_k)
                idx = idx[top]
            loc, lab = idx // self.num_classes, idx % self.num_classes
            p, b = pts[loc], box[i][loc]
            boxes = torch.stack([p[:, 0] - b[:, 0], p[:, 1] - b[:, 1], p[:, 0] + b[:, 2], p[:, 1] + b[:, 3]], 1)
            boxes = boxes.clamp(0, image_size)
            k = batched_nms(boxes, cand, lab, self.cfg.nms_iou)[: self.cfg.max_detections]
            results.append({"boxes": boxes[k], "scores": cand[k], "labels": lab[k]})
        return results
