"""Compound scaling (EfficientNet) and EfficientDet configurations."""

from detdesign.scaling.compound import PAPER, Compound, grid, scale
from detdesign.scaling.efficientdet import (
    EfficientDetConfig,
    compare,
    efficientdet_config,
    efficientdet_config_from_phi,
)

__all__ = ["PAPER", "Compound", "EfficientDetConfig", "compare", "efficientdet_config",
           "efficientdet_config_from_phi", "grid", "scale"]
