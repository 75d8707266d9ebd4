"""COCO evaluation with pycocotools: AP, AP50, AP75, AP small/medium/large and per-class AP.

Predictions are mapped from the letterboxed input back to original image pixels (divide by the letterbox
scale; padding is right/bottom so there is no offset) and scored against the split's COCO ground truth.
Works for every detector the library builds: a ``predict`` that returns ``(detections, route)`` (the
dynamic detector) is read for its detections.

:func:`bootstrap_ap` resamples test *images* with replacement and recomputes COCO AP on each resample, reusing
pycocotools' per-image matching (``COCOeval.evaluate`` once, ``accumulate`` per resample), so an interval over
images costs a fraction of a second per resample. Paired: two detectors are resampled with the same images.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import torch
from pycocotools.cocoeval import COCOeval

from detdesign.data.bccd import coco_api
from detdesign.detection.data import Preprocessed
from detdesign.training import autocast

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def to_coco(preds: list[dict], targets: list[dict]) -> list[list[dict]]:
    """Per image, the COCO detection dicts of ``preds`` (input pixels) mapped to original pixels."""
    dets = []
    for p, t in zip(preds, targets, strict=True):
        boxes = (p["boxes"].float().cpu() / t["scale"]).tolist()
        dets.append([{"image_id": t["image_id"], "category_id": int(lab) + 1, "score": float(s),
                      "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
                     for b, s, lab in zip(boxes, p["scores"].float().cpu(), p["labels"].cpu())])
    return dets


@torch.no_grad()
def predict_all(model, data: Preprocessed, batch_size: int = 8, device: str = "cpu",
                precision: str = "fp32") -> list[list[dict]]:
    """Per image, COCO detections in original pixels (``model`` is put in eval mode)."""
    model.eval()
    dets = []
    for start in range(0, len(data), batch_size):
        images = data.images[start:start + batch_size].to(device)
        with autocast(precision, device):
            out = model.predict(images)
        if isinstance(out, tuple):  # DynamicDetector.predict -> (detections, route)
            out = out[0]
        dets += to_coco(out, data.targets[start:start + batch_size])
    return dets


def _cocoeval(data: Preprocessed, detections: list[list[dict]]) -> COCOeval | None:
    gt = coco_api(data.records, data.classes)
    flat = [d for per_image in detections for d in per_image]
    if not flat:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(flat), "bbox")
        ev.evaluate()
    return ev


def coco_metrics(data: Preprocessed, detections: list[list[dict]]) -> dict:
    """COCO box metrics of ``detections`` (as :func:`predict_all` returns them) on ``data``'s records."""
    ev = _cocoeval(data, detections)
    if ev is None:
        return {**{m: 0.0 for m in METRICS}, **{f"AP_{c}": 0.0 for c in data.classes}}
    with contextlib.redirect_stdout(io.StringIO()):
        ev.accumulate()
        ev.summarize()
    out = {m: float(v) for m, v in zip(METRICS, ev.stats[[0, 1, 2, 3, 4, 5]])}
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    for k, name in enumerate(data.classes):
        p = precision[:, :, k, 0, -1]
        out[f"AP_{name}"] = float(np.mean(p[p > -1])) if (p > -1).any() else 0.0
    return out


def evaluate(model, data: Preprocessed, batch_size: int = 8, device: str = "cpu", precision: str = "fp32") -> dict:
    """:func:`predict_all` + :func:`coco_metrics`."""
    return coco_metrics(data, predict_all(model, data, batch_size, device, precision))


def _ap_of_resample(ev: COCOeval, idx: np.ndarray) -> float:
    """COCO AP (0.5:0.95, all areas, 100 dets) of the image resample ``idx`` (positions in ``ev.params.imgIds``).

    Only the "all areas" block of the per-image matches is accumulated, with the largest ``maxDets`` (what
    ``evaluate`` matched with), which is all that AP needs."""
    p = ev.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    per_cat = [ev.evalImgs[k * n_area * n_img: k * n_area * n_img + n_img] for k in range(len(p.catIds))]
    r = copy.copy(ev)
    r.params = copy.deepcopy(p)
    r.params.imgIds = list(range(len(idx)))
    r.params.areaRng, r.params.areaRngLbl, r.params.maxDets = [p.areaRng[0]], [p.areaRngLbl[0]], [p.maxDets[-1]]
    r._paramsEval = r.params
    r.evalImgs = [block[i] for block in per_cat for i in idx]
    with contextlib.redirect_stdout(io.StringIO()):
        r.accumulate()
    prec = r.eval["precision"][:, :, :, 0, -1]
    return float(np.mean(prec[prec > -1])) if (prec > -1).any() else 0.0


def bootstrap_ap(data: Preprocessed, detections: list[list[dict]], n_resamples: int = 200, seed: int = 0,
                 others: tuple = ()) -> np.ndarray:
    """COCO AP on ``n_resamples`` image resamples (with replacement), for ``detections`` and each of
    ``others`` on the *same* resamples: array [1 + len(others), n_resamples] (paired bootstrap)."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    evals = [_cocoeval(data, d) for d in (detections, *others)]
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(data), len(data)) for _ in range(n_resamples)]
    return np.array([[_ap_of_resample(ev, i) if ev is not None else 0.0 for i in draws] for ev in evals])
