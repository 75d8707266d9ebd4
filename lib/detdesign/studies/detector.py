"""Notebook ``00b_detector``: the reference ResNet-18-like FCOS detector trained from scratch on BCCD.

Everything the notebook shows is computed here: the splits (letterboxed once), the cached training run, COCO
metrics on val and test, FLOPs / batch-1 latency / training throughput, the loss curve and a prediction grid.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch

from detdesign.claims import Claim, Precondition, at_least, decided, interval, timing_outcome
from detdesign.detection import DetectorConfig, TrainConfig, evaluate, fit
from detdesign.detection.bench import MIN_PLAUSIBLE_RATIO
from detdesign.measure import count_flops, count_params, measure_latency
from detdesign.profiles import DetectorSizes

AP50_TARGET = 0.60  # issue #5: from scratch, CPU, no pretrained weights
OVERHEAD_TARGET = 1.5  # issue #5: data pipeline + loss add at most 50% to the bare forward+backward
TARGET_EPOCHS = 36  # the schedule the AP50 target was set for (the full profile's)


def configs(S: DetectorSizes, seed: int) -> tuple[DetectorConfig, TrainConfig]:
    """The reference detector (RESNET18_LIKE + FPN P3-P5 + FCOS head) and its schedule."""
    cfg = DetectorConfig(image_size=S.image_size)
    tcfg = TrainConfig(epochs=S.epochs, batch_size=S.batch_size, lr=S.lr, seed=seed,
                       max_iters_per_epoch=S.max_iters_per_epoch)
    return cfg, tcfg


def train_reference(run, S: DetectorSizes, splits: dict, seed: int):
    """Train (or load the finished checkpoint of) the reference detector: (model, history, seconds, cfg)."""
    cfg, tcfg = configs(S, seed)
    f = fit(cfg, tcfg, splits["train"], run.checkpoints("00b"), "reference", device=run.device)
    return f.model, f.history, f.seconds, cfg


def metrics_table(model, splits: dict) -> pd.DataFrame:
    """COCO metrics (AP, AP50, AP75, AP S/M/L and per-class AP) on val and test, one row per split."""
    rows = [{"split": s, "images": len(splits[s]), **evaluate(model, splits[s])} for s in ("val", "test")]
    return pd.DataFrame(rows).set_index("split")


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


def claims(metrics: pd.DataFrame, overhead: dict, S: DetectorSizes | None = None) -> list[Claim]:
    """Ledger rows: the issue's AP50 target on test and the data-pipeline overhead target. With the sizes ``S``
    the AP50 row states its preconditions: the target's schedule was trained and the whole test split scored
    (a shorter run cannot decide whether the recipe reaches the target)."""
    test = metrics.loc["test"]
    pre = () if S is None else (
        Precondition.check("epochs trained (the target's schedule)", S.epochs, ">=", TARGET_EPOCHS, "{:.0f}"),
        Precondition.check("test images scored (BCCD test has 72)", test["images"], ">=", 72, "{:.0f}"))
    return [
        Claim("00b-ap50", "project target", f"reference detector from scratch: test AP50 >= {AP50_TARGET}",
              f"AP50 {test['AP50']:.3f}, AP {test['AP']:.3f} on {int(test['images'])} test images",
              decided(at_least(test["AP50"], AP50_TARGET)), "ResNet-18-like FCOS, CPU, no pretrained weights",
              preconditions=pre, kind="target"),
        Claim("00b-overhead", "project target", f"train step <= {OVERHEAD_TARGET}x bare forward+backward",
              f"{overhead['ratio']:.2f}x ({overhead['images_per_s']:.1f} images/s)",
              decided(timing_outcome(overhead["ratio_lo"], overhead["ratio_hi"], OVERHEAD_TARGET)),
              f"ratio of medians over {len(overhead['full_samples'])} repeats, batch 8; inconclusive when the "
              "target lies inside the timing interval",
              interval=interval(overhead["ratio_lo"], overhead["ratio_hi"], "{:.2f}", "95% bootstrap over repeats"),
              timing=True, kind="target", preconditions=(Precondition(
                  "a physically possible measurement (full step >= its own forward+backward)",
                  f"{overhead['ratio']:.2f}x", f">= {MIN_PLAUSIBLE_RATIO}", bool(overhead.get("valid", True))),)),
    ]


def findings(metrics: pd.DataFrame, costs: pd.DataFrame, overhead: dict, history: pd.DataFrame, S: DetectorSizes,
             profile: str) -> str:
    """The closing "what we found" as Markdown, every number from this run."""
    t, v, c = metrics.loc["test"], metrics.loc["val"], costs["value"]
    gmacs = next(val for key, val in c.items() if key.startswith("GMACs"))
    per_class = ", ".join(f"{k.removeprefix('AP_')} {t[k]:.3f}" for k in t.index if k.startswith("AP_"))
    holds = "holds" if t["AP50"] >= AP50_TARGET else "does not hold"
    return "\n".join([
        f"- Trained from scratch for {S.epochs} epochs at {S.image_size} px ({len(history)} iterations, "
        f"{c['training wall time (s)']:.0f} s; profile `{profile}`), the ResNet-18-like FCOS detector reaches "
        f"**test AP {t['AP']:.3f}, AP50 {t['AP50']:.3f}, AP75 {t['AP75']:.3f}** (val {v['AP']:.3f} / {v['AP50']:.3f} / "
        f"{v['AP75']:.3f}): the target AP50 >= {AP50_TARGET} {holds}.",
        f"- Per class on test: {per_class}; AP small {t['APs']:.3f}, medium {t['APm']:.3f}, "
        f"large {t['APl']:.3f}.",
        f"- Cost: {c['parameters (M)']:.2f} M parameters, {gmacs:.2f} GMACs, "
        f"{c['batch-1 latency, median (ms)']:.1f} ms batch-1 CPU latency (a timing); a training step costs "
        f"{overhead['ratio']:.2f}x the bare forward+backward "
        f"(95% interval over repeats {overhead['ratio_lo']:.2f}-{overhead['ratio_hi']:.2f}x; target <= "
        f"{OVERHEAD_TARGET}x).",
        "- What limits AP (0.5:0.95): localisation of overlapping red cells and of tiny platelets. Larger inputs, a "
        "longer schedule and a pretrained backbone would close the gap to published BCCD detectors; everything here "
        "is trained from scratch so that the backbone comparisons of notebooks 03-05 are not confounded by "
        "pretraining.",
        "- No paper claim is tested here; the two ledger rows are the project's own targets for its detection stack.",
    ])
