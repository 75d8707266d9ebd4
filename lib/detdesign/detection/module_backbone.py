"""Any ``nn.Module`` as a detection backbone: a module that returns feature maps at strides 8, 16, 32 (C3..C5).

``detdesign.detection.register_module_backbone("mine", factory)`` takes a zero-argument factory (each detector
builds a fresh module, seeded by :func:`~detdesign.detection.build_detector`) whose module maps ``[B, 3, S, S]``
float images (ImageNet normalised by the detector) to a list, tuple or dict of feature maps. One probe forward
at registration measures each map's channels and stride (``S / H``); a map at stride ``2**k`` becomes level
``C_k``. Levels the module does not return are absent (``channels[k - 1] is None``): a neck that asks for one
fails when the detector is built.

- torchvision: :func:`torchvision_features` wraps a classifier with ``create_feature_extractor``
  (``torchvision.models.resnet18`` -> ``{"layer2": "c3", "layer3": "c4", "layer4": "c5"}``);
- timm: ``timm.create_model(name, features_only=True, out_indices=(2, 3, 4))`` already returns a list of C3..C5
  (timm is not a dependency; not tested here).

A module backbone's content key (:meth:`DetectorJob.key`) carries a fingerprint of the module's class names and
parameter shapes, so a changed module under the same name never replays a stale cached result. ZenNAS-only tools
(the MAE-DET entropy proxy, DynamicDet's composite connection) need a ZenNAS structure and refuse a module backbone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from detdesign.registry import Registry
from detdesign.results import content_key

MODULE_BACKBONES = Registry("module backbone")  # name -> ModuleBackboneSpec
LEVELS = 5  # C1..C5, the levels the necks index


@dataclass(frozen=True)
class ModuleBackboneSpec:
    """A registered module backbone: its factory, the level of each returned map, channels per level (``None``
    where absent) and the fingerprint that enters content keys."""

    factory: Callable[[], nn.Module]
    levels: tuple[int, ...]
    channels: tuple[int | None, ...]
    fingerprint: str


def _maps(out) -> list[Tensor]:
    """A module's output as a list of feature maps (list, tuple or the values of a dict, in order)."""
    maps = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else None
    if not maps or not all(isinstance(m, Tensor) and m.ndim == 4 for m in maps):
        raise TypeError("a module backbone must return a list, tuple or dict of [B, C, H, W] feature maps; wrap a "
                        "classifier with torchvision_features(...) or timm's features_only=True")
    return maps


def _level(size: int, h: int, w: int, i: int) -> int:
    if h != w or size % h:
        raise ValueError(f"feature map {i} is {h}x{w} for a {size}x{size} probe: a backbone map must be square at an "
                         f"integer stride")
    stride = size // h
    level = stride.bit_length() - 1
    if 2 ** level != stride or not 1 <= level <= LEVELS:
        raise ValueError(f"feature map {i} has stride {stride}: module backbones give maps at strides 2, 4, 8, 16 or "
                         f"32 (C1..C5)")
    return level


def _probe(module: nn.Module, size: int) -> tuple[tuple[int, ...], tuple[int | None, ...]]:
    was = module.training
    module.eval()
    with torch.no_grad():
        maps = _maps(module(torch.zeros(1, 3, size, size)))
    module.train(was)
    levels = tuple(_level(size, m.shape[-2], m.shape[-1], i) for i, m in enumerate(maps))
    if list(levels) != sorted(set(levels)):
        raise ValueError(f"feature maps must come at increasing strides, one per level; got levels {levels}")
    channels = [None] * LEVELS
    for lv, m in zip(levels, maps):
        channels[lv - 1] = int(m.shape[1])
    return levels, tuple(channels)


def module_spec(factory: Callable[[], nn.Module], probe_size: int = 256) -> ModuleBackboneSpec:
    """Build ``factory``'s module once and probe it: the spec :func:`~detdesign.detection.backbone.
    register_module_backbone` stores. ``probe_size`` (a multiple of 32) is the probe input's side."""
    if not callable(factory) or isinstance(factory, nn.Module):
        raise TypeError("factory must be a zero-argument callable that builds the module (e.g. a lambda), not a "
                        "module instance: each detector needs fresh weights")
    if probe_size < 32 or probe_size % 32:
        raise ValueError(f"probe_size must be a multiple of 32, got {probe_size}")
    module = factory()
    if not isinstance(module, nn.Module):
        raise TypeError(f"factory returned {type(module).__name__}, not an nn.Module")
    levels, channels = _probe(module, probe_size)
    arch = (sorted({type(m).__qualname__ for m in module.modules()}),
            tuple((k, tuple(v.shape)) for k, v in module.state_dict().items()))
    return ModuleBackboneSpec(factory, levels, channels, content_key("module-backbone", *arch, levels, channels))


def module_fingerprint(name: str) -> str | None:
    """The fingerprint of a module backbone named ``name``; ``None`` for a ZenNAS name or structure string."""
    return MODULE_BACKBONES.get(name).fingerprint if isinstance(name, str) and name in MODULE_BACKBONES else None


class ModuleBackbone(nn.Module):
    """``forward(x) -> [C1..C5]`` with ``None`` for levels the module does not return; ``channels`` and
    ``strides`` describe levels 1..5 like :class:`~detdesign.detection.backbone.Backbone`'s."""

    def __init__(self, name: str):
        super().__init__()
        spec = MODULE_BACKBONES.get(name)
        self.name, self.levels, self.channels = name, spec.levels, list(spec.channels)
        self.strides = [2 ** lv for lv in range(1, LEVELS + 1)]
        self.body = spec.factory()

    def forward(self, x: Tensor) -> list[Tensor | None]:
        maps = _maps(self.body(x))
        if len(maps) != len(self.levels):
            raise ValueError(f"module backbone {self.name!r} returned {len(maps)} maps, {len(self.levels)} at "
                             f"registration")
        feats: list[Tensor | None] = [None] * LEVELS
        for lv, m in zip(self.levels, maps):
            feats[lv - 1] = m  # C_lv: [B, channels[lv-1], H/2**lv, W/2**lv]
        return feats


def torchvision_features(model: nn.Module, return_nodes: dict[str, str]) -> nn.Module:
    """A torchvision classifier as a module returning the dict of the named nodes (torchvision's
    ``create_feature_extractor``), e.g. ``torchvision_features(resnet18(), {"layer2": "c3", "layer3": "c4",
    "layer4": "c5"})``."""
    from torchvision.models.feature_extraction import create_feature_extractor

    return create_feature_extractor(model, return_nodes=return_nodes)
