"""Notebook ``05_dynamicdet``: one dynamic detector, its accuracy-speed curve, thresholds and hard images."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from detdesign.claims import Claim
from detdesign.detection import DetectorConfig, TrainConfig, fit
from detdesign.detection.evaluate import coco_metrics
from detdesign.dynamic import (
    DynamicConfig,
    RouterTrainConfig,
    build_dynamic,
    hard_fraction,
    measured_run,
    threshold,
    train_router,
)
from detdesign.dynamic.inference import CascadePath, FirstPath
from detdesign.measure import count_flops
from detdesign.profiles import DynamicSizes

PAPER = pd.DataFrame([  # factsheet G: DynamicDet README, Dy-YOLOv7 on COCO, V100, batch 1, fp16
    {"easy/hard": "90/10", "GFLOPs": 112.4, "FPS": 110, "AP_val": 51.4, "AP_test": 52.1},
    {"easy/hard": "50/50", "GFLOPs": 143.2, "FPS": 96, "AP_val": 52.7, "AP_test": 53.3},
    {"easy/hard": "10/90", "GFLOPs": 174.0, "FPS": 85, "AP_val": 53.3, "AP_test": 53.8},
    {"easy/hard": "0/100", "GFLOPs": 181.7, "FPS": 83, "AP_val": 53.5, "AP_test": 53.9},
])


def config(S: DynamicSizes) -> DynamicConfig:
    """Two ResNet-18-like FCOS detectors (identical architecture, as in DynamicDet) at the profile's size."""
    det = DetectorConfig(image_size=S.image_size)
    return DynamicConfig(first=det, second=det)


def train(run, S: DynamicSizes, splits: dict, seed: int):
    """Stage 1 (cached checkpoint, resumable) then stage 2: (model, stage-1 history, seconds, router history,
    Delta)."""
    tcfg = TrainConfig(epochs=S.epochs, batch_size=S.batch_size, lr=S.lr, seed=seed,
                       max_iters_per_epoch=S.max_iters_per_epoch)
    f = fit(config(S), tcfg, splits["train"], run.checkpoints("05"), desc="stage 1", build=build_dynamic,
            device=run.device)
    router_hist, delta = train_router(f.model, splits["train"], RouterTrainConfig(epochs=S.router_epochs, seed=seed))
    return f.model, f.history, f.seconds, router_hist, delta


def static_table(model, S: DynamicSizes, splits, d1, d2, lat1: float, lat2: float) -> pd.DataFrame:
    """AP, MACs and batch-1 latency of detector 1 (+ router) and of the cascade (every image hard)."""
    shape = (1, 3, S.image_size, S.image_size)
    macs1 = count_flops(FirstPath(model), shape).macs
    macs_all = count_flops(CascadePath(model), shape).macs
    rows = []
    for name, dets, macs, lat in (("detector 1 (easy path)", d1, macs1, lat1),
                                  ("cascade (hard path)", d2, macs_all, lat2)):
        m = coco_metrics(splits["test"], dets)
        rows.append({"model": name, "GMACs": macs / 1e9, "latency_ms": lat, "AP": m["AP"], "AP50": m["AP50"]})
    return pd.DataFrame(rows).set_index("model")


def curve_figure(c: pd.DataFrame, static: pd.DataFrame):
    """AP against batch-1 latency: the router's curve, random routing (±1 std) and the two static points."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(c["latency_ms"], c["router_AP"], marker="o", label="router (one dynamic detector)")
    ax.errorbar(c["latency_ms"], c["random_AP"], yerr=c["random_AP_std"], marker="s", capsize=2, alpha=0.8,
                label="random routing")
    ax.scatter(static["latency_ms"], static["AP"], s=90, marker="*", color="k", zorder=5, label="static detectors")
    ax.set(xlabel="batch-1 CPU latency (ms, estimated from the hard share)", ylabel="BCCD test AP",
           title="Accuracy-speed curve of one dynamic detector")
    ax.legend()
    return fig


def readme_table(c: pd.DataFrame, fractions=(0.1, 0.5, 0.9, 1.0)) -> pd.DataFrame:
    """Our curve in the layout of the DynamicDet README (easy/hard split, latency, AP)."""
    rows = []
    for f in fractions:
        r = c.iloc[(c["hard_fraction"] - f).abs().argmin()]
        rows.append({"easy/hard": f"{round(100 * (1 - f))}/{round(100 * f)}", "latency_ms": r["latency_ms"],
                     "AP_test (router)": r["router_AP"], "AP_test (random)": r["random_AP"]})
    return pd.DataFrame(rows)


def threshold_table(model, splits, phi_val, lat1: float, lat2: float, ks=(0.25, 0.5, 0.75)) -> pd.DataFrame:
    """Target latencies -> val thresholds -> latency, hard share and AP measured on test, image by image."""
    rows = []
    for k in ks:
        target = lat1 + k * (lat2 - lat1)
        kk = hard_fraction(target, lat1, lat2)
        tau = threshold(phi_val, kk)
        run = measured_run(model, splits["test"], tau)
        rows.append({"target_ms": target, "k": kk, "threshold": tau, "test_hard_fraction": run["hard_fraction"],
                     "test_ms_per_image": run["ms_per_image"], "test_AP": run["AP"]})
    return pd.DataFrame(rows)


def hardness_table(phi, data) -> pd.DataFrame:
    """Router difficulty against object count, mean box area and platelet count per test image."""
    rows = []
    for p, t in zip(phi, data.targets):
        b = t["boxes"]
        area = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).mean().item() if len(b) else 0.0
        rows.append({"phi": float(p), "objects": len(b), "mean_box_area": area,
                     "platelets": int((t["labels"] == 2).sum())})
    return pd.DataFrame(rows)


def advantage(c: pd.DataFrame) -> float:
    """Mean AP gain of router over random routing at the interior fractions (0 < k < 1)."""
    inner = c[(c["hard_fraction"] > 0) & (c["hard_fraction"] < 1)]
    return float((inner["router_AP"] - inner["random_AP"]).mean())


def claims(static: pd.DataFrame, c: pd.DataFrame, thr: pd.DataFrame) -> list[Claim]:
    ap1, ap2 = static["AP"].iloc[0], static["AP"].iloc[1]
    adv = advantage(c)
    half = c.iloc[(c["hard_fraction"] - 0.5).abs().argmin()]
    kept = (half["router_AP"] - ap1) / (ap2 - ap1) if ap2 != ap1 else float("nan")
    err = (thr["test_hard_fraction"] - thr["k"]).abs().max()
    return [
        Claim("05-cascade-better", "DynamicDet", "the second (cascaded) detector is more accurate than the first",
              f"test AP {ap2:.3f} vs {ap1:.3f} ({ap2 - ap1:+.3f})", "yes" if ap2 > ap1 else "no",
              "precondition for any routing gain"),
        Claim("05-router-vs-random", "DynamicDet", "the router beats random routing at the same hard fraction",
              f"mean AP gain over random at 10-90% hard: {adv:+.4f}", "yes" if adv > 0 else "no",
              "random routing [UNVERIFIED] in the paper; mean of random draws here"),
        Claim("05-half-hard", "DynamicDet", "50/50 keeps most of the 0/100 accuracy (52.7 vs 53.5 COCO val AP)",
              f"AP at 50% hard {half['router_AP']:.3f}; " + (f"keeps {100 * kept:.0f}% of the cascade's gain"
                                                               if ap2 > ap1 else "the cascade adds no AP to keep"),
              ("yes" if kept >= 0.5 else "partly" if kept > 0 else "no") if ap2 > ap1 else "no",
              "Dy-YOLOv7 numbers from the README"),
        Claim("05-thresholds-transfer", "DynamicDet", "thresholds set on val give the target speed on test",
              f"max |test hard share - target k| = {err:.2f} over {len(thr)} targets",
              "yes" if err <= 0.15 else "partly", "BCCD val has 87 images, test 72"),
    ]


def grid_samples(phi, data, n: int):
    """The ``n`` hardest and ``n`` easiest test images (by phi) as (image, target) pairs for a grid."""
    order = np.argsort(-np.asarray(phi), kind="stable")
    idx = [*order[:n], *order[::-1][:n]]
    return [(data.images[i], data.targets[i]) for i in idx], [float(phi[i]) for i in idx]
