"""Variable-speed inference of one dynamic detector: latencies, thresholds and accuracy-speed curves.

DynamicDet section 3.4: with batch-1 latencies lat1 (detector 1 + router) and lat2 (the cascade), a target
latency lat_t allows the hard fraction ``k = (lat_t - lat1) / (lat2 - lat1)``; the threshold is the
``1 - k`` quantile of the router's difficulty phi on the validation split (the official
``np.percentile(score_val, 100 k)`` of ``score = 1 - phi``), so a fraction k of validation images is hard.
Scores here are the router's logits z (phi = sigmoid(z)): the same ranking and quantiles, but a saturated router
(many phi = 1.0 in float32) keeps its images apart instead of tying them (the ties would be broken by image order).
Since each image is routed on its own, the detections of any routing are the per-image choice between
detector 1's and the cascade's detections; curves are computed from both, cached once (equal to running
:meth:`DynamicDetector.predict`, which a test checks). pycocotools matches each detector's detections once
(:class:`~detdesign.detection.evaluate.ImageMatches`); the AP of every routing and of every bootstrap
resample is then :func:`~detdesign.detection.evaluate.weighted_ap` of the two, identical to a COCO evaluation
of the routed detections (tested) at a small fraction of the cost.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pandas as pd
import torch
from scipy import stats
from scipy.special import expit
from torch import nn

from detdesign.detection.data import Preprocessed
from detdesign.detection.evaluate import ImageMatches, coco_metrics, resample_counts, to_coco, weighted_ap
from detdesign.dynamic.model import DynamicDetector
from detdesign.measure import measure_latency


class FirstPath(nn.Module):
    """Detector 1 + router (what an easy image costs)."""

    def __init__(self, model: DynamicDetector):
        super().__init__()
        self.model = model

    def forward(self, x):
        f1 = self.model.features1(x)
        return self.model.first.head(self.model.first.neck(f1)), self.model.router(f1)


class CascadePath(FirstPath):
    """Backbone 1 + router + backbone 2 + neck 2 + head 2 (what a hard image costs)."""

    def forward(self, x):
        f1 = self.model.features1(x)
        return self.model.second.head(self.model.second.neck(self.model.features2(x, f1))), self.model.router(f1)


def latencies(model: DynamicDetector, runs: int = 20) -> tuple[float, float]:
    """Median batch-1 CPU latency (ms) of the easy path and of the cascade (head outputs, before NMS)."""
    s = model.cfg.first.image_size
    lat1 = measure_latency(FirstPath(model), (1, 3, s, s), runs=runs).median_ms
    lat2 = measure_latency(CascadePath(model), (1, 3, s, s), runs=runs).median_ms
    return lat1, lat2


def hard_fraction(target_ms: float, lat1: float, lat2: float) -> float:
    """k = (lat_t - lat1)/(lat2 - lat1), clipped to [0, 1] with a warning naming the valid range."""
    for name, v in (("target_ms", target_ms), ("lat1", lat1), ("lat2", lat2)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"hard_fraction: {name} must be a finite number of milliseconds, got {v!r}")
    if lat2 <= lat1:
        raise ValueError(f"the cascade ({lat2:.2f} ms) must be slower than detector 1 ({lat1:.2f} ms)")
    k = (target_ms - lat1) / (lat2 - lat1)
    if not 0.0 <= k <= 1.0:
        warnings.warn(f"target latency {target_ms:.2f} ms lies outside the valid range [{lat1:.2f}, {lat2:.2f}] "
                      "ms; clipped to it", stacklevel=2)
    return float(min(1.0, max(0.0, k)))


def threshold(phi_val, k: float) -> float:
    """The difficulty threshold that sends a fraction ``k`` of the validation images to detector 2, on the scale
    of ``phi_val`` (pass the router's logits, as :func:`both_predictions` gives them, for
    :meth:`DynamicDetector.predict`)."""
    if not 0.0 <= k <= 1.0:  # also refuses NaN
        raise ValueError(f"hard fraction must lie in [0, 1], got {k}")
    scores = np.asarray(phi_val, dtype=float)
    if scores.size == 0 or not np.isfinite(scores).all():
        raise ValueError(f"router scores must be finite and non-empty to set a threshold ({int(np.isnan(scores).sum())}"
                         " NaN); a NaN score would route its image as easy silently -- check the router's training")
    if k == 0.0:
        return float("inf")
    if k == 1.0:
        return float("-inf")
    return float(np.quantile(scores, 1.0 - k))


@torch.no_grad()
def both_predictions(model: DynamicDetector, data: Preprocessed, batch_size: int = 8):
    """Per image: the router's logit z (float64; phi = sigmoid(z), the routing score of this module), detector-1
    detections and cascade detections (COCO dicts in original pixels)."""
    model.eval()
    phi, d1, d2 = [], [], []
    size = model.cfg.first.image_size
    for s in range(0, len(data), batch_size):
        images, targets = data.images[s:s + batch_size], data.targets[s:s + batch_size]
        f1, outs1, outs2 = model.heads(images)
        phi.append(model.router.logit(f1))
        d1 += to_coco(model.first.head.decode(outs1, size), targets)
        d2 += to_coco(model.second.head.decode(outs2, size), targets)
    return torch.cat(phi).double().numpy(), d1, d2


def routed_ap(data: Preprocessed, d1, d2, hard) -> dict:
    """COCO metrics when the images with ``hard[i]`` take the cascade's detections."""
    return coco_metrics(data, [b if h else a for a, b, h in zip(d1, d2, hard)])


def _hard_mask(n: int, chosen) -> np.ndarray:
    hard = np.zeros(n, bool)
    hard[np.asarray(chosen, dtype=int)] = True
    return hard


def _top(scores, m: int) -> np.ndarray:
    """Indices of the ``m`` largest ``scores`` (stable order)."""
    return np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:m]


def curve(data: Preprocessed, phi, d1, d2, fractions, lat1: float, lat2: float, random_draws: int = 5,
          seed: int = 0, gain=None) -> pd.DataFrame:
    """AP at each hard fraction k: the router (the top-k phi are hard), random routing (mean and 2.5/97.5%
    quantiles over ``random_draws`` draws) and, with ``gain`` (each image's true L1 - L2), the **oracle** that
    sends the images detector 2 helps most. ``latency_ms`` is the expected batch-1 latency lat1 + k (lat2 - lat1)."""
    n, rng, rows = len(phi), np.random.default_rng(seed), []
    m1, m2 = ImageMatches.of(data, d1), ImageMatches.of(data, d2)
    ap = lambda hard: weighted_ap([(m1, ~hard), (m2, hard)])  # noqa: E731
    for f in fractions:
        m = round(f * n)
        router = ap(_hard_mask(n, _top(phi, m)))
        rand = [ap(_hard_mask(n, rng.choice(n, m, replace=False))) for _ in range(random_draws)]
        row = {"hard_fraction": m / n, "latency_ms": lat1 + m / n * (lat2 - lat1), "router_AP": router,
               "random_AP": float(np.mean(rand)), "random_AP_std": float(np.std(rand)),
               "random_lo": float(np.quantile(rand, 0.025)), "random_hi": float(np.quantile(rand, 0.975))}
        if gain is not None:
            row["oracle_AP"] = ap(_hard_mask(n, _top(gain, m)))
        rows.append(row)
    return pd.DataFrame(rows)


def routing_bootstrap(data: Preprocessed, phi, d1, d2, k: float, gain, n_resamples: int = 200, seed: int = 0,
                      random_draws: int = 5) -> dict:
    """Paired image bootstrap at hard fraction ``k``: AP of router, oracle and ``random_draws`` random routings
    on the same resamples. Returns point values and 95% intervals of router - random (random = mean of the
    draws), oracle - random, and cascade - detector 1 (the premise: detector 2 is better)."""
    n, rng = len(phi), np.random.default_rng(seed)
    m = round(k * n)
    m1, m2 = ImageMatches.of(data, d1), ImageMatches.of(data, d2)
    masks = [_hard_mask(n, _top(phi, m)), _hard_mask(n, _top(gain, m)), np.zeros(n, bool), np.ones(n, bool)]
    masks += [_hard_mask(n, rng.choice(n, m, replace=False)) for _ in range(random_draws)]
    counts = resample_counts(n, n_resamples, seed)
    boot = np.array([[weighted_ap([(m1, c * ~h), (m2, c * h)]) for c in counts] for h in masks])
    point = [weighted_ap([(m1, ~h), (m2, h)]) for h in masks]
    rand_b, rand_p = boot[4:].mean(0), float(np.mean(point[4:]))
    out = {"k": m / n}
    for name, b, p in (("router_minus_random", boot[0] - rand_b, point[0] - rand_p),
                       ("oracle_minus_random", boot[1] - rand_b, point[1] - rand_p),
                       ("cascade_minus_first", boot[3] - boot[2], point[3] - point[2])):
        lo, hi = np.quantile(b, [0.025, 0.975])
        out.update({name: p, f"{name}_lo": float(2 * p - hi), f"{name}_hi": float(2 * p - lo)})  # basic interval
    return out


def router_diagnostics(z, gain, saturation: float = 0.01) -> dict:
    """Spearman rho of the router's logit z (the ranking of phi = sigmoid(z), ties broken) with the held-out gain
    L1 - L2, and the share of saturated scores (phi < ``saturation`` or > 1 - ``saturation``): a router that ranks
    nothing or sits at 0/1 shows here."""
    z, gain = np.asarray(z, dtype=float), np.asarray(gain, dtype=float)
    phi = expit(z)
    res = stats.spearmanr(z, gain)
    return {"rho": float(res.statistic), "rho_p": float(res.pvalue),
            "saturated": float(np.mean((phi < saturation) | (phi > 1 - saturation)))}


@torch.no_grad()
def measured_run(model: DynamicDetector, data: Preprocessed, tau: float) -> dict:
    """Route every image of ``data`` one at a time with threshold ``tau``: mean ms/image, hard share, AP."""
    model.eval()
    dets, hard, t0 = [], [], time.perf_counter()
    for i in range(len(data)):
        out, route = model.predict(data.images[i:i + 1], threshold=tau)
        dets += to_coco(out, data.targets[i:i + 1])
        hard.append(bool(route[0]))
    ms = 1e3 * (time.perf_counter() - t0) / len(data)
    return {"ms_per_image": ms, "hard_fraction": float(np.mean(hard)), **coco_metrics(data, dets)}
