"""The testbed's recipe and detector presets: one factory each, shared by notebooks 00c, 03, 04 and 05.

- :func:`testbed_recipe` -- the training schedule of the reference detector on the testbed (``00c``): AdamW,
  warm-up + cosine, weight EMA, the profile's epochs, batch and learning rate (:class:`~detdesign.profiles.
  TestbedSizes`), with the run's precision and memory format. Every detector a notebook compares with the
  reference detector trains with it, so the detector is the one variable.
- :func:`reference_detector` -- the ResNet-18-like FCOS detector on P3-P5 (the testbed's reference).
- :func:`testbed_detector` -- the reference detector (or another neck on it) for a testbed variant: its canvas,
  classes and FCOS level ranges (:class:`~detdesign.data.testbed.TestbedVariant`).
- :func:`variant_recipe` -- the schedule of a testbed-v2 training (online scenes: epochs of fresh scenes).
- :func:`p3p7_detector` -- the same head on P3-P7 (P6/P7 from P5) with FCOS's level ranges scaled to the input
  (:func:`~detdesign.detection.config.scaled_size_ranges`): the pyramid of notebooks 03 and 00c's second table.
- :func:`level_shares` -- the share of FCOS positives each pyramid level of a detector receives on a split (the
  "every level has positives" precondition of the multi-scale claims).
"""

from __future__ import annotations

import numpy as np

from detdesign.detection.config import (
    RESNET18_LIKE,
    DetectorConfig,
    HeadConfig,
    NeckConfig,
    TrainConfig,
    scaled_size_ranges,
)
from detdesign.profiles import TestbedSizes


def testbed_recipe(T: TestbedSizes, seed: int, *, precision: str = "fp32", channels_last: bool = False,
                   epochs: int | None = None) -> TrainConfig:
    """The testbed's schedule for training seed ``seed`` (``epochs`` overrides its length, e.g. ``2 * T.epochs``
    for the doubled schedule); ``precision`` / ``channels_last`` are the run's (:attr:`detdesign.Run.precision`)."""
    return TrainConfig(epochs=epochs or T.epochs, batch_size=T.batch_size, lr=T.lr, seed=seed, ema=T.ema,
                       max_iters_per_epoch=T.max_iters_per_epoch, precision=precision, channels_last=channels_last)


def reference_detector(image_size: int, num_classes: int, backbone: str = RESNET18_LIKE) -> DetectorConfig:
    """The testbed's reference detector: ``backbone`` (ResNet-18-like) with an FPN on P3-P5 and the FCOS head."""
    return DetectorConfig(backbone=backbone, image_size=image_size, num_classes=num_classes)


def testbed_detector(variant, neck: NeckConfig | None = None, backbone: str = RESNET18_LIKE) -> DetectorConfig:
    """The reference detector on ``variant`` (a :class:`~detdesign.data.testbed.TestbedVariant`): input = its canvas,
    its classes, its FCOS level ranges; ``neck`` replaces the FPN (the neck ablation of notebook 04)."""
    return DetectorConfig(backbone=backbone, image_size=variant.canvas, num_classes=variant.num_classes,
                          neck=neck or NeckConfig(), head=HeadConfig(size_ranges=variant.size_ranges))


def variant_recipe(epochs: int, batch_size: int, lr: float, ema: float, seed: int, *, precision: str = "fp32",
                   channels_last: bool = False) -> TrainConfig:
    """A testbed-v2 schedule: ``epochs`` of fresh scenes at ``batch_size``, AdamW at ``lr``, warm-up + cosine,
    weight EMA ``ema``, flip + scale jitter; ``precision`` / ``channels_last`` from :meth:`detdesign.Run.speed_for`."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, ema=ema, precision=precision,
                       channels_last=channels_last)


def v2_recipe(T, seed: int, speed: dict, schedule: float = 1) -> TrainConfig:
    """The reference schedule S of testbed v2 (``T`` a :class:`~detdesign.profiles.TestbedV2Sizes`: its ``ref_*``
    sizes) for training seed ``seed``; ``schedule=2`` is 2S. ``speed`` = :meth:`detdesign.Run.speed_for` of the
    variant. With :func:`detdesign.data.testbed.load_testbed` (``T.ref_scenes_per_epoch``, ``T.n_val``,
    ``T.n_test``) and :func:`testbed_detector`, the one setup every later notebook builds on::

        v = get_variant(V2)
        splits = load_testbed(v, T.ref_scenes_per_epoch, T.n_val, T.n_test)
        job = DetectorJob(testbed_detector(v, neck), v2_recipe(T, seed, run.speed_for(V2)), ...)
    """
    epochs = T.ref_epochs * schedule
    if epochs != int(epochs) or epochs < 1:
        raise ValueError(f"schedule x ref_epochs must be a whole number of epochs >= 1, got {epochs}")
    return variant_recipe(int(epochs), T.batch_size, T.lr, T.ema, seed, **speed)


def p3p7_detector(backbone: str, image_size: int, num_classes: int) -> DetectorConfig:
    """``backbone`` with an FPN on P3-P7 (P6, P7 from P5) and FCOS level ranges scaled to ``image_size``."""
    return DetectorConfig(backbone=backbone, image_size=image_size, num_classes=num_classes,
                          neck=NeckConfig(extra_levels=2),
                          head=HeadConfig(size_ranges=scaled_size_ranges(image_size, 5)))


def level_shares(cfg: DetectorConfig, targets: list[dict]) -> dict[str, float]:
    """Share of the FCOS positives of ``targets`` (a split's boxes) on each level of ``cfg``'s pyramid,
    ``{"P3": ..., "P4": ...}``; the assignment depends on strides and ranges only, not on the weights."""
    from detdesign.detection.model import build_detector

    counts = np.array(build_detector(cfg).head.level_counts(cfg.image_size, targets), float)
    total = counts.sum()
    if total == 0:
        raise ValueError("no positive location on any level: the split has no boxes the head can assign")
    return {f"P{3 + i}": float(c / total) for i, c in enumerate(counts)}
