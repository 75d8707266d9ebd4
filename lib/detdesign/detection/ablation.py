"""The neck ablation of notebook 04 (EfficientDet §3): BiFPN against FPN as two graphs of one fusion layer.

:func:`neck_variants` gives the four necks: D0's BiFPN (width 64, 3 layers) with each fusion rule (fast,
softmax, sum) and FPN layers of the *same* fusion layer (separable conv, BN, swish) repeated until the neck's
MACs are nearest the BiFPN's, so the graph is the one variable. Each neck sits on the testbed's reference
detector (:func:`neck_detector`: ResNet-18-like backbone, P3-P5 FCOS head); :func:`neck_cost` measures a neck's
parameters, MACs and batch-1 CPU latency on one image's backbone features.
"""

from __future__ import annotations

import pandas as pd
import torch

from detdesign.detection.config import DetectorConfig, NeckConfig
from detdesign.detection.model import build_detector
from detdesign.measure import count_flops, count_params, measure_latency

BIFPN = {"channels": 64, "repeats": 3}  # D0's BiFPN width and depth
NECK_VARIANTS = ("BiFPN fast", "BiFPN softmax", "BiFPN sum", "FPN matched")


def neck_detector(image_size: int, neck: NeckConfig, num_classes: int = 10) -> DetectorConfig:
    """The reference detector of the testbed with ``neck`` in place of its FPN."""
    return DetectorConfig(image_size=image_size, num_classes=num_classes, neck=neck)


def neck_cost(cfg: DetectorConfig, runs: int, batch: int = 1) -> dict:
    """Neck parameters, MACs and (``runs`` > 0) CPU latency on the backbone features of ``batch`` images (MACs
    per batch)."""
    det = build_detector(cfg).eval()
    with torch.no_grad():
        feats = det.features(torch.zeros(batch, 3, cfg.image_size, cfg.image_size))
    out = {"neck_params_k": count_params(det.neck) / 1e3, "neck_MMACs": count_flops(det.neck, inputs=feats).macs / 1e6}
    if runs:
        lat = measure_latency(det.neck, inputs=feats, runs=runs, warmup=3)
        out.update(neck_latency_ms=lat.median_ms, neck_latency_samples=lat.samples_ms)
    return out


def neck_variants(image_size: int) -> dict[str, NeckConfig]:
    """The four necks of the ablation (:data:`NECK_VARIANTS`): BiFPN with each fusion rule, and FPN layers of the
    same fusion layer repeated until the neck's MACs are nearest the BiFPN's (1-12 layers searched)."""
    bifpn = {f"BiFPN {f}": NeckConfig(kind="effdet-bifpn", fusion=f, **BIFPN) for f in ("fast", "softmax", "sum")}
    target = neck_cost(neck_detector(image_size, bifpn["BiFPN fast"]), runs=0)["neck_MMACs"]
    fpns = [NeckConfig(kind="effdet-fpn", channels=BIFPN["channels"], repeats=r) for r in range(1, 13)]
    costs = [neck_cost(neck_detector(image_size, n), runs=0)["neck_MMACs"] for n in fpns]
    best = min(range(len(fpns)), key=lambda i: abs(costs[i] / target - 1))
    return {**bifpn, "FPN matched": fpns[best]}


def fusion_weights(state: dict) -> pd.DataFrame:
    """The learned fusion weights of every BiFPN node in a training checkpoint (``state``: what
    :func:`detdesign.detection.fit` saves, ``last.pt``), raw and EMA weights: one row per (weights, node input)
    with the raw parameter ``w`` and its share after the fusion rule (fast: ``relu(w) / sum relu(w)``, EfficientDet
    Eq. 3 normalised). A fast-fusion input with ``w <= 0`` is *dead*: ``relu`` passes no gradient back to it, so
    weight decay, which pulls every ``w`` towards 0, can switch an input off for good."""

    rows = []
    for which in ("model", "ema"):
        sd = state.get(which) or {}
        for name, w in sd.items():
            name = name.removeprefix("module.")  # the EMA's averaged copy
            if not (name.endswith(".weight") and ".fuse." in name and torch.is_tensor(w) and w.ndim == 1):
                continue
            w = w.float()
            pos = torch.relu(w)
            share = pos / (pos.sum() + 1e-4)
            rows += [{"weights": which, "node": name.removesuffix(".weight"), "input": i, "w": float(w[i]),
                      "fast share": float(share[i]), "softmax share": float(torch.softmax(w, 0)[i]),
                      "dead (fast)": bool(w[i] <= 0)} for i in range(len(w))]
    return pd.DataFrame(rows)
