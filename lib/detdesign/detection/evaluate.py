"""COCO evaluation with pycocotools: AP, AP50, AP75, AP small/medium/large and per-class AP.

Predictions are mapped from the letterboxed input back to original image pixels (divide by the letterbox
scale; padding is right/bottom so there is no offset) and scored against the split's COCO ground truth.
Works for every detector the library builds: a ``predict`` that returns ``(detections, route)`` (the
dynamic detector) is read for its detections.

:func:`bootstrap_ap` resamples test *images* with replacement and recomputes COCO AP on each resample. It reuses
pycocotools' per-image matching (``COCOeval.evaluate`` once) and replaces ``accumulate`` by
:func:`weighted_ap`, a vectorised re-implementation of its AP path: an image drawn ``w`` times contributes its
detections and ground truth ``w`` times (a weighted cumulative sum instead of ``w`` copies), which gives the
same precision array as ``accumulate`` on the resample (bit for bit, tested; detections of different images
with exactly equal scores are ordered by image index). The same function scores any per-image *mix* of two
detectors' detections (a DynamicDet routing) without a new evaluation. Paired: two detectors are resampled
with the same images.
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


def _floor_detections(data: Preprocessed, rng: np.random.Generator, every_class: bool) -> list[list[dict]]:
    labels = np.concatenate([t["labels"].numpy() for t in data.targets])
    shuffled, k, dets, n_cls = rng.permutation(labels), 0, [], len(data.classes)
    for t in data.targets:
        n = len(t["labels"])
        if every_class:  # each box once per class, independent uniform scores
            boxes, labs = t["boxes"].float().repeat_interleave(n_cls, 0), torch.arange(n_cls).repeat(n)
        else:  # each box once, the label of another box of the split
            boxes, labs = t["boxes"].float(), torch.from_numpy(shuffled[k:k + n])
        dets += to_coco([{"boxes": boxes, "labels": labs,
                          "scores": torch.from_numpy(rng.uniform(size=len(labs))).float()}], [t])
        k += n
    return dets


def no_class_floor(data: Preprocessed, draws: int = 5, seed: int = 0) -> dict:
    """COCO AP of *perfect boxes with random classes* on ``data``, two ways, each over ``draws`` seeded draws
    scored by pycocotools:

    - ``AP`` (the floor): every ground-truth box predicted once per class with independent uniform scores, which
      is what a detector that found the boxes but learned nothing of the classes emits (its class scores at a
      box are noise, and it keeps every class above the score threshold);
    - ``AP_one``: every box predicted once, with the label of another box of the split (a permutation of all
      labels, class frequencies kept) and a uniform score: a detector forced to name one class per box.

    A detector whose AP is not clearly above ``AP`` has found the boxes but not the classes (the precondition
    "the detector learned classes", :func:`detdesign.claims.learned_classes`)."""
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    rng = np.random.default_rng([seed, len(data), 7])
    every = [coco_metrics(data, _floor_detections(data, rng, True)) for _ in range(draws)]
    one = [coco_metrics(data, _floor_detections(data, rng, False)) for _ in range(draws)]
    ap = [m["AP"] for m in every]
    return {"AP": float(np.mean(ap)), "AP_min": float(np.min(ap)), "AP_max": float(np.max(ap)),
            "AP50": float(np.mean([m["AP50"] for m in every])), "AP_one": float(np.mean([m["AP"] for m in one])),
            "draws": draws}


def _ap_of_resample(ev: COCOeval, idx: np.ndarray) -> float:
    """Reference for :func:`weighted_ap` (tests only): pycocotools' own ``accumulate`` on the image resample
    ``idx`` (positions in ``ev.params.imgIds``), "all areas" block, largest ``maxDets``."""
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
    matches = [ImageMatches.of(data, d) for d in (detections, *others)]
    counts = resample_counts(len(data), n_resamples, seed)
    return np.array([[weighted_ap([(m, c)]) for c in counts] for m in matches])


def resample_counts(n: int, n_resamples: int, seed: int) -> list[np.ndarray]:
    """How often each of ``n`` images is drawn in each of ``n_resamples`` bootstrap resamples (seeded; the
    resamples of :func:`bootstrap_ap` for this seed), as weights for :func:`weighted_ap`."""
    rng = np.random.default_rng(seed)
    return [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_resamples)]


class ImageMatches:
    """pycocotools' per-image matching of one detection set, as arrays per category (area "all", the largest
    ``maxDets``): detection ``scores``, their image index ``img`` and position ``pos`` in the image, true and
    false positives ``tp``/``fp`` [T, D] (detections matched to ignored ground truth are neither), and
    ``npig`` [K, images], the non-ignored ground truth per image. ``None`` for an empty detection set."""

    def __init__(self, ev: COCOeval):
        p = ev.params
        n_img, n_area, n_thr = len(p.imgIds), len(p.areaRng), len(p.iouThrs)
        self.n_images, self.rec_thrs, self.cats = n_img, p.recThrs, []
        self.npig = np.zeros((len(p.catIds), n_img))
        for k in range(len(p.catIds)):
            block = ev.evalImgs[k * n_area * n_img: k * n_area * n_img + n_img]
            scores, img, pos, tp, fp = [], [], [], [], []
            for i, e in enumerate(block):
                if e is None:
                    continue
                self.npig[k, i] = np.count_nonzero(e["gtIgnore"] == 0)
                d = len(e["dtScores"])
                dtm, dti = e["dtMatches"][:, :d].astype(bool), e["dtIgnore"][:, :d].astype(bool)
                scores.append(np.asarray(e["dtScores"], dtype=float))
                img.append(np.full(d, i))
                pos.append(np.arange(d))
                tp.append(dtm & ~dti)
                fp.append(~dtm & ~dti)
            cat = (np.concatenate(scores), np.concatenate(img), np.concatenate(pos), np.concatenate(tp, axis=1),
                   np.concatenate(fp, axis=1)) if scores else (np.zeros(0), np.zeros(0, int), np.zeros(0, int),
                                                               np.zeros((n_thr, 0), bool), np.zeros((n_thr, 0), bool))
            self.cats.append(cat)
        self.n_thr = n_thr

    @classmethod
    def of(cls, data: Preprocessed, detections: list[list[dict]]) -> ImageMatches | None:
        ev = _cocoeval(data, detections)
        return None if ev is None else cls(ev)


def _precision(score, img, pos, tp, fp, w, npig: float, rec_thrs) -> np.ndarray:
    """Interpolated precision [T, R] of one category (``accumulate``'s inner loop) with detection weights ``w``."""
    order = np.lexsort((pos, img, -score))
    w = w[order]
    tp_sum = np.cumsum(tp[:, order] * w, axis=1)
    fp_sum = np.cumsum(fp[:, order] * w, axis=1)
    rc = tp_sum / npig
    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # the precision envelope
    q = np.zeros((tp.shape[0], len(rec_thrs)))
    for t in range(tp.shape[0]):
        inds = np.searchsorted(rc[t], rec_thrs, side="left")
        ok = inds < pr.shape[1]
        q[t, ok] = pr[t, inds[ok]]
    return q


def weighted_ap(parts) -> float:
    """COCO AP (0.5:0.95, all areas, 100 dets) when image ``i`` contributes, for every ``(matches, weights)`` in
    ``parts``, ``matches``' detections ``weights[i]`` times (its ground truth counted once per unit of weight
    summed over the parts). One part with weights = draw counts is a bootstrap resample; two parts with weights
    ``1 - hard`` and ``hard`` are a routing between two detectors. ``matches`` may be ``None`` (no detections)."""
    parts = [(m, np.asarray(w, dtype=float)) for m, w in parts]
    real = [(m, w) for m, w in parts if m is not None]
    if not real:
        return 0.0
    ref = real[0][0]
    img_w = sum(w for _, w in parts)
    prec = -np.ones((ref.n_thr, len(ref.rec_thrs), len(ref.cats)))
    for k in range(len(ref.cats)):
        npig = float(ref.npig[k] @ img_w)
        if npig == 0:
            continue
        cols = [(m.cats[k], w[m.cats[k][1]]) for m, w in real]
        score, img, pos, tp, fp = (np.concatenate([c[j] for c, _ in cols], axis=-1) for j in range(5))
        wd = np.concatenate([x for _, x in cols])
        keep = wd > 0
        prec[:, :, k] = _precision(score[keep], img[keep], pos[keep], tp[:, keep], fp[:, keep], wd[keep], npig,
                                   ref.rec_thrs)
    return float(np.mean(prec[prec > -1])) if (prec > -1).any() else 0.0
