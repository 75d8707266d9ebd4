"""One frozen dataclass describes a whole detector; another describes its training schedule."""

from __future__ import annotations

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


@dataclass(frozen=True)
class DetectorConfig:
    """A complete detector: backbone structure string, neck, head, classes, square input size."""

    backbone: str = RESNET18_LIKE
    neck: NeckConfig = field(default_factory=NeckConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    num_classes: int = 3
    image_size: int = 512


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
