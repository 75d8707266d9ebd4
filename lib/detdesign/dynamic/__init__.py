"""DynamicDet: two cascaded detectors, an adaptive router, two-stage training, variable-speed inference."""

from detdesign.dynamic.inference import (
    both_predictions,
    curve,
    hard_fraction,
    latencies,
    measured_run,
    routed_ap,
    threshold,
)
from detdesign.dynamic.model import AdaptiveRouter, DynamicConfig, DynamicDetector, router_loss
from detdesign.dynamic.training import RouterTrainConfig, build_dynamic, router_inputs, train_router

__all__ = ["AdaptiveRouter", "DynamicConfig", "DynamicDetector", "RouterTrainConfig", "both_predictions",
           "build_dynamic", "curve", "hard_fraction", "latencies", "measured_run", "routed_ap", "router_inputs",
           "router_loss", "threshold", "train_router"]
