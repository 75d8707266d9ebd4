"""DynamicDet: two cascaded detectors, an adaptive router, two-stage training, variable-speed inference."""

from detdesign.dynamic.inference import (
    both_predictions,
    curve,
    hard_fraction,
    latencies,
    measured_run,
    routed_ap,
    router_diagnostics,
    routing_bootstrap,
    threshold,
)
from detdesign.dynamic.model import AdaptiveRouter, DynamicConfig, DynamicDetector, router_loss
from detdesign.dynamic.training import (
    DynamicJob,
    RouterFit,
    RouterTrainConfig,
    build_dynamic,
    router_inputs,
    train_router,
)

__all__ = [
    "AdaptiveRouter",
    "DynamicConfig",
    "DynamicDetector",
    "DynamicJob",
    "RouterFit",
    "RouterTrainConfig",
    "both_predictions",
    "build_dynamic",
    "curve",
    "hard_fraction",
    "latencies",
    "measured_run",
    "routed_ap",
    "router_diagnostics",
    "router_inputs",
    "router_loss",
    "routing_bootstrap",
    "threshold",
    "train_router",
]
