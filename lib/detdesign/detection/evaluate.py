"""COCO evaluation with pycocotools: AP, AP50, AP75, AP small/medium/large and per-class AP.

Predictions are mapped from the letterboxed input back to original image pixels (divide by the letterbox
scale; padding is right/bottom so there is no offset) and scored against :func:`detdesign.data.to_coco`.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from pycocotools.cocoeval import COCOeval

from detdesign.data.bccd import CLASSES, coco_api
from detdesign.detection.data import Preprocessed

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def to_coco(preds: list[dict], targets: list[dict]) -> list[list[dict]]:
    """Per image, the COCO detection dicts of ``preds`` (input pixels) mapped to original pixels."""
    dets = []
    for p, t in zip(preds, targets, strict=True):
        boxes = (p["boxes"] / t["scale"]).tolist()
        dets.append([{"image_id": t["image_id"], "category_id": int(lab) + 1, "score": float(s),
                      "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
                     for b, s, lab in zip(boxes, p["scores"], p["labels"])])
    return dets


@torch.no_grad()
def predict_all(model, data: Preprocessed, batch_size: int = 8) -> list[list[dict]]:
    """Per image, COCO detections in original pixels (``model`` is put in eval mode)."""
    model.eval()
    dets = []
    for start in range(0, len(data), batch_size):
        dets += to_coco(model.predict(data.images[start:start + batch_size]),
                        data.targets[start:start + batch_size])
    return dets


def coco_metrics(data: Preprocessed, detections: list[list[dict]]) -> dict:
    """COCO box metrics of ``detections`` (as :func:`predict_all` returns them) on ``data``'s records."""
    gt = coco_api(data.records)
    flat = [d for per_image in detections for d in per_image]
    if not flat:
        return {**{m: 0.0 for m in METRICS}, **{f"AP_{c}": 0.0 for c in CLASSES}}
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(flat), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out = {m: float(v) for m, v in zip(METRICS, ev.stats[[0, 1, 2, 3, 4, 5]])}
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    for k, name in enumerate(CLASSES):
        p = precision[:, :, k, 0, -1]
        out[f"AP_{name}"] = float(np.mean(p[p > -1])) if (p > -1).any() else 0.0
    return out


def evaluate(model, data: Preprocessed, batch_size: int = 8) -> dict:
    """:func:`predict_all` + :func:`coco_metrics`."""
    return coco_metrics(data, predict_all(model, data, batch_size))
