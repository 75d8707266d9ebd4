"""The detection stack: ZenNAS-string or one's own ``nn.Module`` backbones (C1..C5), registries of backbones,
necks and heads, an FCOS-style head, one training loop and COCO evaluation (BCCD, the scenes, or one's own
COCO-format data through :func:`load_coco_splits`).

Registries: ``list_backbones()`` (named structures), ``list_necks()`` ("fpn", "bifpn"), ``list_heads()``
("fcos"); ``DetectorConfig`` describes a detector and ``build_detector`` builds it.
"""

from detdesign.detection import bifpn as _bifpn  # noqa: F401  (registers the "bifpn" neck)
from detdesign.detection.backbone import create_backbone, list_backbones, register_backbone, register_module_backbone
from detdesign.detection.bench import train_overhead
from detdesign.detection.config import (
    RESNET18_LIKE,
    RESNET50_LIKE,
    DetectorConfig,
    HeadConfig,
    NeckConfig,
    TrainConfig,
    scaled_size_ranges,
)
from detdesign.detection.data import Preprocessed, load_coco_splits, load_splits, preprocess
from detdesign.detection.efficientdet_model import EfficientDet, EfficientDetSpec, build_efficientdet
from detdesign.detection.evaluate import bootstrap_ap, coco_metrics, evaluate, predict_all
from detdesign.detection.head import create_head, list_heads, register_head
from detdesign.detection.model import Detector, build_detector
from detdesign.detection.module_backbone import torchvision_features
from detdesign.detection.neck import create_neck, list_necks, register_neck
from detdesign.detection.training import Fit, Trained, fit, train

__all__ = [
    "RESNET18_LIKE",
    "RESNET50_LIKE",
    "Detector",
    "DetectorConfig",
    "EfficientDet",
    "EfficientDetSpec",
    "Fit",
    "HeadConfig",
    "NeckConfig",
    "Preprocessed",
    "TrainConfig",
    "Trained",
    "bootstrap_ap",
    "build_detector",
    "build_efficientdet",
    "coco_metrics",
    "create_backbone",
    "create_head",
    "create_neck",
    "evaluate",
    "fit",
    "list_backbones",
    "list_heads",
    "list_necks",
    "load_coco_splits",
    "load_splits",
    "predict_all",
    "preprocess",
    "register_backbone",
    "register_head",
    "register_module_backbone",
    "register_neck",
    "scaled_size_ranges",
    "torchvision_features",
    "train",
    "train_overhead",
]
