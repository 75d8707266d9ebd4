"""One frozen dataclass describes a whole detector; another describes its training schedule.

Fields added after results were first published are declared ``field(..., repr=False)``: they enter a
result's content key (:func:`detdesign.results.content_key`) only when set away from their default, so the
published caches and checkpoints keep their keys while a non-default value still gets a key of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Reference backbones in the ZenNAS format, at widths that train on a 2-core CPU. Each stride-2 block opens
# a new stage, so the five blocks give C1..C5 at strides 2, 4, 8, 16, 32.
RESNET18_LIKE = ("SuperConvK3BNRELU(3,16,2,1)SuperResK3K3(16,32,2,16,2)SuperResK3K3(32,64,2,32,2)"
                 "SuperResK3K3(64,128,2,64,2)SuperResK3K3(128,256,2,128,2)")
RESNET50_LIKE = ("SuperConvK3BNRELU(3,16,2,1)SuperResK1K3K1(16,64,2,16,1)SuperResK1K3K1(64,128,2,32,2)"
                 "SuperResK1K3K1(128,256,2,64,3)SuperResK1K3K1(256,512,2,128,1)")


@dataclass(frozen=True)
class NeckConfig:
    """Feature pyramid: ``kind`` from :data:`detdesign.detection.neck.NECKS`, input levels, width."""

    kind: str = "fpn"
    levels: tuple[int, ...] = (3, 4, 5)  # backbone levels C3..C5 feed P3..P5
    channels: int = 64
    extra_levels: int = 0  # P6, P7 on top (0, 1 or 2)
    repeats: int = 1  # BiFPN layers (ignored by FPN)
    fusion: str = "fast"  # BiFPN fusion: sum | softmax | fast (ignored by FPN)


@dataclass(frozen=True)
class HeadConfig:
    """FCOS-style anchor-free head shared across levels."""

    convs: int = 2  # conv-GN-ReLU layers in each of the class and box towers
    channels: int = 64
    center_sampling: float = 1.5  # positive points lie within this many strides of a box centre
    score_threshold: float = 0.05
    nms_iou: float = 0.6
    max_detections: int = 100
    pre_nms_top_k: int = 1000
    kind: str = field(default="fcos", repr=False)  # registered head (detdesign.detection.head.list_heads)
    # FCOS level assignment: boundaries of max(l, t, r, b) in input pixels between consecutive levels
    # (None = 32, 64, 128, ...: half of FCOS's 64, 128, ... for 800-px COCO images); see ``scaled_size_ranges``
    size_ranges: tuple[float, ...] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DetectorConfig:
    """A complete detector: backbone structure string, neck, head, classes, square input size."""

    backbone: str = RESNET18_LIKE
    neck: NeckConfig = field(default_factory=NeckConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    num_classes: int = 3
    image_size: int = 512

    def __post_init__(self):
        for name in ("num_classes", "image_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"DetectorConfig.{name} must be a positive int, got {v!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Schedule for :func:`detdesign.detection.training.train`."""

    epochs: int = 12
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 0.05
    optimizer: str = "adamw"  # adamw | sgd
    warmup_iters: int = 50
    scale_jitter: tuple[float, float] = (0.75, 1.25)
    flip: bool = True
    seed: int = 0
    max_iters_per_epoch: int | None = None  # cap for smoke runs
    precision: str = field(default="fp32", repr=False)  # fp32 | bf16 (CPU/GPU autocast of forward + loss)
    channels_last: bool = field(default=False, repr=False)  # NHWC memory format for convs
    ema: float | None = field(default=None, repr=False)  # weight-EMA decay (e.g. 0.999); None = off
    eval_every: int = field(default=1, repr=False)  # validation AP every this many epochs (when val given)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema must be a decay in (0, 1) such as 0.999, or None; got {self.ema!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number such as 2e-3, got {self.lr!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError(f"epochs, batch_size and eval_every must be >= 1, got {self.epochs}, "
                             f"{self.batch_size}, {self.eval_every}")


PRECISIONS = ("fp32", "bf16")


def scaled_size_ranges(image_size: int, levels: int, reference: int = 800) -> tuple[float, ...]:
    """FCOS's level boundaries (64, 128, 256, 512) scaled by ``image_size / reference``: ``levels - 1`` numbers.

    FCOS chose its ranges for ~800-px COCO inputs; on a small canvas they send every object to the lowest
    levels. Scaling keeps FCOS's *relative* assignment: at 256 px the P3..P7 boundaries are 20.5, 41, 82 and
    164 px of max side distance (objects of roughly 41, 82, 164 and 328 px).
    """
    if image_size < 1 or levels < 1 or reference < 1:
        raise ValueError(f"image_size, levels and reference must be >= 1, got {image_size}, {levels}, {reference}")
    return tuple(2 ** (6 + i) * image_size / reference for i in range(levels - 1))
