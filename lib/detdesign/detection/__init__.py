"""The detection stack: ZenNAS-string backbones (C1..C5), a neck registry (FPN), an FCOS-style head,
one training loop and COCO evaluation.
Necks: "fpn" and "bifpn". ``DetectorConfig`` describes a detector; ``build_detector`` builds it."""

from detdesign.detection import bifpn as _bifpn  # noqa: F401  (registers the "bifpn" neck)
from detdesign.detection.config import RESNET18_LIKE, RESNET50_LIKE, DetectorConfig, HeadConfig, NeckConfig, TrainConfig
from detdesign.detection.data import Preprocessed, preprocess
from detdesign.detection.evaluate import coco_metrics, evaluate, predict_all
from detdesign.detection.model import Detector, build_detector
from detdesign.detection.training import fit, per_image_losses, run_key, train

__all__ = [
                                        "RESNET18_LIKE",
                                        "RESNET50_LIKE",
                                        "Detector",
                                        "DetectorConfig",
                                        "HeadConfig",
                                        "NeckConfig",
                                        "Preprocessed",
                                        "TrainConfig",
                                        "build_detector",
                                        "coco_metrics",
                                        "evaluate",
                                        "fit",
                                        "per_image_losses",
                                        "predict_all",
                                        "preprocess",
                                        "run_key",
                                        "train",
]
