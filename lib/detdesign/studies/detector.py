"""Notebook ``00b_detector``: the reference ResNet-18-like FCOS detector trained from scratch on BCCD.

Everything the notebook shows is computed here: the splits (letterboxed once), the cached training run, COCO
metrics on val and test, FLOPs / batch-1 latency / training throughput, the loss curve and a prediction grid.
"""

from __future__ import annotations

import statistics
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

from detdesign.claims import Claim
from detdesign.data import load_bccd
from detdesign.detection import DetectorConfig, TrainConfig, evaluate, fit, preprocess
from detdesign.detection.data import TrainView, augmenter, collate
from detdesign.detection.model import build_detector
from detdesign.measure import count_flops, count_params, measure_latency
from detdesign.outputs import outputs
from detdesign.profiles import DetectorSizes

AP50_TARGET = 0.60  # issue #5: from scratch, CPU, no pretrained weights
OVERHEAD_TARGET = 1.5  # issue #5: data pipeline + loss add at most 50% to the bare forward+backward


def load_splits(S: DetectorSizes) -> dict:
    """train / val / test letterboxed to ``S.image_size`` (first ``n_train`` / ``n_eval`` images if set)."""
    out = {}
    for split, n in (("train", S.n_train), ("val", S.n_eval), ("test", S.n_eval)):
        data = preprocess(load_bccd(split), S.image_size)
        out[split] = data if n is None else data.select(slice(0, n))
    return out


def configs(S: DetectorSizes, seed: int) -> tuple[DetectorConfig, TrainConfig]:
    """The reference detector (RESNET18_LIKE + FPN P3-P5 + FCOS head) and its schedule."""
    cfg = DetectorConfig(image_size=S.image_size)
    tcfg = TrainConfig(epochs=S.epochs, batch_size=S.batch_size, lr=S.lr, seed=seed,
                       max_iters_per_epoch=S.max_iters_per_epoch)
    return cfg, tcfg


def train_reference(S: DetectorSizes, splits: dict, seed: int, profile: str):
    """Train (or load the finished checkpoint of) the reference detector: (model, history, seconds, cfg)."""
    cfg, tcfg = configs(S, seed)
    model, history, seconds = fit(cfg, tcfg, splits["train"], outputs(profile).checkpoints / "00b", "reference")
    return model, history, seconds, cfg


def metrics_table(model, splits: dict) -> pd.DataFrame:
    """COCO metrics (AP, AP50, AP75, AP S/M/L and per-class AP) on val and test, one row per split."""
    rows = [{"split": s, "images": len(splits[s]), **evaluate(model, splits[s])} for s in ("val", "test")]
    return pd.DataFrame(rows).set_index("split")


def train_overhead(cfg: DetectorConfig, data, batch_size: int = 8, steps: int = 4, seed: int = 0) -> dict:
    """Median time of a full training step vs the bare forward+backward of the same batch size.

    Bare: a pre-stacked batch through the detector, backward of the sum of its raw outputs. Full: what
    :func:`detdesign.detection.train` does per iteration (augmenting DataLoader, FCOS targets and losses,
    clipping, AdamW step). Returns seconds of each, their ratio and training images/s.
    """
    model = build_detector(cfg, seed=seed).train()
    loader = torch.utils.data.DataLoader(
        TrainView(data, augmenter(True, (0.75, 1.25))), batch_size=batch_size, shuffle=True, collate_fn=collate,
        generator=torch.Generator().manual_seed(seed))
    batches = (b for _ in range(steps + 1) for b in loader)  # enough epochs even for a tiny split
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = data.images[:batch_size]

    def bare() -> float:
        t0 = time.perf_counter()
        sum(o.sum() for level in model(images) for o in level).backward()
        return time.perf_counter() - t0

    def full() -> float:
        t0 = time.perf_counter()
        imgs, targets = next(batches)
        loss, _ = model.loss(imgs, targets)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        return time.perf_counter() - t0

    bare(), full()  # warm-up
    b = statistics.median(bare() for _ in range(steps))
    f = statistics.median(full() for _ in range(steps))
    return {"bare_s": b, "full_s": f, "ratio": f / b, "images_per_s": batch_size / f}


def cost_table(model, cfg: DetectorConfig, S: DetectorSizes, seconds: float, history: pd.DataFrame,
               overhead: dict) -> pd.DataFrame:
    """Parameters, MACs, batch-1 CPU latency at the evaluation size, and training cost."""
    shape = (1, 3, cfg.image_size, cfg.image_size)
    lat = measure_latency(model, shape, runs=S.latency_runs, warmup=3)
    images_seen = len(history) * S.batch_size
    rows = [
        ("parameters (M)", count_params(model) / 1e6),
        (f"GMACs at {cfg.image_size}x{cfg.image_size}", count_flops(model, shape).macs / 1e9),
        ("batch-1 latency, median (ms)", lat.median_ms),
        ("training wall time (s)", seconds),
        ("training images/s (whole run)", images_seen / seconds if seconds > 0 else float("nan")),
        ("train step / bare fwd+bwd", overhead["ratio"]),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"]).set_index("quantity")


def loss_figure(history: pd.DataFrame) -> plt.Figure:
    """Per-epoch mean of the total loss and its three parts (focal, GIoU, centre-ness BCE)."""
    per_epoch = history.groupby("epoch")[["loss", "cls", "box", "ctr"]].mean()
    per_epoch.index = per_epoch.index + 1
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for col, label in (("loss", "total"), ("cls", "focal (class)"), ("box", "GIoU (box)"),
                       ("ctr", "centre-ness BCE")):
        ax.plot(per_epoch.index, per_epoch[col], marker="o" if len(per_epoch) < 12 else None, label=label)
    ax.set(xlabel="epoch", ylabel="mean training loss", title="Reference detector: training loss")
    ax.legend()
    return fig


@torch.no_grad()
def predictions(model, data, n: int, score: float = 0.3) -> tuple[list, list]:
    """First ``n`` images of ``data`` as (image, target) pairs and their detections above ``score``."""
    model.eval()
    samples = [(data.images[i], data.targets[i]) for i in range(min(n, len(data)))]
    preds = model.predict(torch.stack([img for img, _ in samples]))
    return samples, [{k: v[p["scores"] >= score] for k, v in p.items()} for p in preds]


def claims(metrics: pd.DataFrame, overhead: dict) -> list[Claim]:
    """Ledger rows: the issue's AP50 target on test and the data-pipeline overhead target."""
    test = metrics.loc["test"]
    return [
        Claim("00b-ap50", "detdesign #5 (target)", f"reference detector from scratch: test AP50 >= {AP50_TARGET}",
              f"AP50 {test['AP50']:.3f}, AP {test['AP']:.3f} on {int(test['images'])} test images",
              "yes" if test["AP50"] >= AP50_TARGET else "no", "ResNet-18-like FCOS, CPU, no pretrained weights"),
        Claim("00b-overhead", "detdesign #5 (target)", f"train step <= {OVERHEAD_TARGET}x bare forward+backward",
              f"{overhead['ratio']:.2f}x ({overhead['images_per_s']:.1f} images/s)",
              "yes" if overhead["ratio"] <= OVERHEAD_TARGET else "no", "median of a few steps, batch 8"),
    ]
