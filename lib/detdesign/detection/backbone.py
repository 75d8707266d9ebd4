"""Multi-scale backbones: C1..C5 at strides 2, 4, 8, 16, 32, from ZenNAS structure strings or any ``nn.Module``.

A stage ends at the last block before each strided block (see ``ZenNet.stage_features``); the backbone's
output list is what the necks, the MAE-DET entropy proxy and the DynamicDet router read. One's own module
(a torchvision or timm model returning C3..C5, say) is registered with :func:`register_module_backbone`
(:mod:`detdesign.detection.module_backbone`) and is then named in a ``DetectorConfig`` like any other backbone.
"""

from __future__ import annotations

from torch import Tensor, nn

from detdesign.arch import ZenNet
from detdesign.arch.tinynas_format import is_tinynas
from detdesign.arch.zen_net import stage_ends
from detdesign.detection.config import RESNET18_LIKE, RESNET50_LIKE
from detdesign.detection.module_backbone import MODULE_BACKBONES, ModuleBackbone, module_spec
from detdesign.registry import Registry

BACKBONES = Registry("backbone")  # name -> ZenNAS structure string
BACKBONES.register("resnet18_like", RESNET18_LIKE)
BACKBONES.register("resnet50_like", RESNET50_LIKE)


def register_backbone(name: str, structure: str) -> str:
    """Register a named ZenNAS structure usable wherever a backbone string is accepted."""
    if name in MODULE_BACKBONES:
        raise ValueError(f"backbone {name!r} is already registered (as a module backbone)")
    ZenNet(structure, num_classes=1)  # parse now: a bad string fails at registration, not at training
    return BACKBONES.register(name, structure)


def register_module_backbone(name: str, factory, probe_size: int = 256) -> str:
    """Register ``factory`` (no arguments -> an ``nn.Module`` returning C3..C5 or more) under ``name``, usable as
    ``DetectorConfig(backbone=name)``; see :mod:`detdesign.detection.module_backbone`."""
    if name in BACKBONES:
        raise ValueError(f"backbone {name!r} is already registered (as a ZenNAS structure)")
    MODULE_BACKBONES.register(name, module_spec(factory, probe_size))
    return name


def list_backbones() -> list[str]:
    """Registered backbone names: ZenNAS structures and module backbones."""
    return sorted(BACKBONES.names() + MODULE_BACKBONES.names())


def backbone_structure(name_or_structure: str) -> str:
    """A registered name's structure string; a structure string is returned as it is."""
    if not isinstance(name_or_structure, str):
        raise TypeError(f"a backbone is a registered name or a ZenNAS string, got {type(name_or_structure).__name__}")
    if "(" in name_or_structure or is_tinynas(name_or_structure):
        return name_or_structure
    if name_or_structure in MODULE_BACKBONES:
        raise ValueError(f"backbone {name_or_structure!r} is a module backbone: it has no ZenNAS structure string "
                         f"(ZenNAS-only tools, e.g. the MAE-DET entropy proxy or DynamicDet, need a structure)")
    return BACKBONES.get(name_or_structure)


def create_backbone(name_or_structure: str) -> nn.Module:
    """A :class:`Backbone` from a registered name (:func:`list_backbones`) or a ZenNAS structure string; a name
    registered with :func:`~detdesign.detection.module_backbone.register_module_backbone` builds its module."""
    if isinstance(name_or_structure, str) and name_or_structure in MODULE_BACKBONES:
        return ModuleBackbone(name_or_structure)
    return Backbone(backbone_structure(name_or_structure))


class Backbone(nn.Module):
    """``forward(x) -> [C1, C2, C3, C4, C5]``; ``channels[i]`` and ``strides[i]`` describe level i+1."""

    def __init__(self, structure: str):
        super().__init__()
        net = ZenNet(backbone_structure(structure), num_classes=1)
        self.blocks, self.spec = net.blocks, net.blocks_spec
        self.structure = net.structure
        self.stage_ends = stage_ends(self.spec)
        self.channels = [self.spec[i].out_channels for i in self.stage_ends]
        strides, s = [], 1
        for i, b in enumerate(self.spec):
            s *= b.stride
            if i in self.stage_ends:
                strides.append(s)
        self.strides = strides
        if strides[:5] != [2, 4, 8, 16, 32][: len(strides)] or len(strides) != 5:
            raise ValueError(f"a detection backbone needs five stages at strides 2..32, got strides {strides} "
                             f"for {structure!r}; use stride-2 blocks to open each stage")

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                feats.append(x)  # C_{len(feats)}: [B, channels, H/stride, W/stride]
        return feats
