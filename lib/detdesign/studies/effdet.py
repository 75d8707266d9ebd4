"""Notebook ``04_compound_scaling``, parts 1-3: EfficientNet and EfficientDet built from this package, the BiFPN
against FPN as two graphs of one fusion layer, and a small EfficientDet trained on the multi-scale testbed.

1. :func:`efficientnet_table`, :func:`implied_phi`, :func:`efficientdet_table`: B0-B7 and D0-D7x from our code
   (meta device, the project's FLOP counter) next to the paper's and the official implementation's counts.
2. :data:`NECK_VARIANTS` / :func:`neck_variants`: the reference FCOS detector of ``00c`` (ResNet-18-like backbone,
   P3-P5) with its neck replaced by BiFPN layers (fast, softmax and plain-sum fusion, D0's width 64 and 3 layers)
   or by FPN layers of the *same* fusion layer (same separable conv, BN, swish) repeated until the neck's MACs
   match the BiFPN's: the graph is the one variable. Trained with the testbed's recipe on CIFAR-10 Scenes, every
   seed; AP differences from a paired bootstrap over test images (same resamples for two detectors of a seed).
3. :func:`effdet_job`: EfficientDet-D0's architecture (anchors, focal + Huber loss) at the testbed's input,
   trained with the same recipe beside the reference FCOS detector.
"""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torchvision

from detdesign.arch.efficientnet import COEFFICIENTS, efficientnet
from detdesign.claims import Claim, Precondition, interval, timing_outcome
from detdesign.detection import DetectorConfig, NeckConfig, build_detector
from detdesign.detection.efficientdet import EfficientDetNet, fpn_topology, resolve_config
from detdesign.detection.efficientdet_model import EfficientDetSpec
from detdesign.detection.experiment import DetectorJob, paired_difference, population_fields, train_evaluate
from detdesign.measure import count_flops, count_params, measure_latency
from detdesign.profiles import EffDetSizes, TestbedSizes
from detdesign.scaling.efficientdet import OFFICIAL_COUNTS, PAPER_COCO
from detdesign.stats import ratio_of_medians
from detdesign.studies import testbed

# EfficientNet paper, Table 2 (params M, FLOPs B); not in our factsheet, so [UNVERIFIED] in the notebook
PAPER_TABLE2 = {"b0": (5.3, 0.39), "b1": (7.8, 0.70), "b2": (9.2, 1.0), "b3": (12, 1.8), "b4": (19, 4.2),
                "b5": (30, 9.9), "b6": (43, 19), "b7": (66, 37)}
BIFPN = {"channels": 64, "repeats": 3}  # D0's BiFPN width and depth
NECK_VARIANTS = ("BiFPN fast", "BiFPN softmax", "BiFPN sum", "FPN matched")


def efficientnet_table() -> pd.DataFrame:
    """B0-B7: our params and MACs at the official resolution (meta device), torchvision's params, Table 2."""
    rows = []
    for name, (w, d, r, _) in COEFFICIENTS.items():
        with torch.device("meta"):
            ours = efficientnet(name)
            tv = getattr(torchvision.models, f"efficientnet_{name}")()
        p_paper, f_paper = PAPER_TABLE2[name]
        rows.append({"model": name, "width": w, "depth": d, "resolution": r, "params_M": count_params(ours) / 1e6,
                     "torchvision_params_M": count_params(tv) / 1e6, "paper_params_M": p_paper,
                     "GMACs": count_flops(ours, (1, 3, r, r)).macs / 1e9, "paper_GFLOPs": f_paper,
                     "blocks": sum(len(s) for s in ours.stages)})
    return pd.DataFrame(rows).set_index("model")


def implied_phi(alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15) -> pd.DataFrame:
    """The phi each official B1-B7 coefficient implies on its own (Eq. 3: ``d = alpha^phi``, ``w = beta^phi``,
    ``r / 224 = gamma^phi``): equal columns would mean the released models follow the rule exactly."""
    rows = []
    for name, (w, d, r, _) in COEFFICIENTS.items():
        rows.append({"model": name, "phi_depth": math.log(d) / math.log(alpha),
                     "phi_width": math.log(w) / math.log(beta), "phi_resolution": math.log(r / 224) / math.log(gamma)})
    return pd.DataFrame(rows).set_index("model")


def efficientdet_table() -> pd.DataFrame:
    """D0-D7x built by :class:`EfficientDetNet` (90 classes, official input, meta device): params and GMACs
    beside the official implementation's counts and the README's (params M, FLOPs B, COCO AP)."""
    rows = []
    for name, (p_off, g_off) in OFFICIAL_COUNTS.items():
        cfg = resolve_config(name)
        with torch.device("meta"):
            net = EfficientDetNet(cfg)
        s = cfg.input_size
        params, gmacs = count_params(net) / 1e6, count_flops(net, (1, 3, s, s)).macs / 1e9
        ap, p_readme, f_readme = PAPER_COCO[name]
        rows.append({"model": name, "input": s, "backbone": cfg.backbone, "bifpn_width": cfg.bifpn_width,
                     "bifpn_layers": cfg.bifpn_layers, "head_layers": cfg.head_layers, "params_M": params,
                     "official_params_M": p_off, "params_err_%": 100 * (params / p_off - 1), "GMACs": gmacs,
                     "official_GMACs": g_off, "GMACs_err_%": 100 * (gmacs / g_off - 1), "readme_params_M": p_readme,
                     "readme_GFLOPs": f_readme, "readme_COCO_AP": ap})
    return pd.DataFrame(rows).set_index("model")


def graph_figure(min_level: int = 3, max_level: int = 7):
    """The BiFPN and FPN graphs drawn from their topology data (:func:`fpn_topology`): inputs on the left,
    nodes in the order the layer computes them, an arrow per input of each node."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    levels = range(min_level, max_level + 1)
    for ax, kind in zip(axes, ("fpn", "bifpn")):
        nodes = fpn_topology(kind, min_level, max_level)
        pos = [(0.0, lv) for lv in levels]
        for i, node in enumerate(nodes):
            pos.append((1.0 + i, node.level))
            for j in node.inputs:
                ax.annotate("", pos[-1], pos[j], arrowprops={"arrowstyle": "->", "color": "0.4", "lw": 0.8,
                                                             "connectionstyle": "arc3,rad=0.15"})
        xs, ys = zip(*pos)
        ax.scatter(xs[:len(levels)], ys[:len(levels)], s=90, color="C0", zorder=3, label="input P_l")
        ax.scatter(xs[len(levels):], ys[len(levels):], s=90, color="C3", zorder=3, label="fusion node")
        ax.set(title=f"{kind.upper()}: {len(nodes)} nodes", xlabel="computation order", ylabel="pyramid level",
               yticks=list(levels))
        ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    return fig


def neck_variants(image_size: int) -> dict[str, NeckConfig]:
    """The four necks of the ablation: BiFPN (D0's width and layers) with each fusion rule, and FPN layers of the
    same fusion layer repeated until the neck's MACs are nearest the BiFPN's (1-12 layers searched)."""
    bifpn = {f"BiFPN {f}": NeckConfig(kind="effdet-bifpn", fusion=f, **BIFPN) for f in ("fast", "softmax", "sum")}
    target = neck_cost(_detector(image_size, bifpn["BiFPN fast"]), runs=0)["neck_MMACs"]
    fpns = [NeckConfig(kind="effdet-fpn", channels=BIFPN["channels"], repeats=r) for r in range(1, 13)]
    costs = [neck_cost(_detector(image_size, n), runs=0)["neck_MMACs"] for n in fpns]
    best = min(range(len(fpns)), key=lambda i: abs(costs[i] / target - 1))
    return {**bifpn, "FPN matched": fpns[best]}


def _detector(image_size: int, neck: NeckConfig, num_classes: int = 10) -> DetectorConfig:
    return DetectorConfig(image_size=image_size, num_classes=num_classes, neck=neck)


def neck_cost(cfg: DetectorConfig, runs: int) -> dict:
    """Neck parameters, MACs and (``runs`` > 0) batch-1 CPU latency on one image's backbone features."""
    det = build_detector(cfg).eval()
    with torch.no_grad():
        feats = det.features(torch.zeros(1, 3, cfg.image_size, cfg.image_size))
    out = {"neck_params_k": count_params(det.neck) / 1e3, "neck_MMACs": count_flops(det.neck, inputs=feats).macs / 1e6}
    if runs:
        lat = measure_latency(det.neck, inputs=feats, runs=runs, warmup=3)
        out.update(neck_latency_ms=lat.median_ms, neck_latency_samples=lat.samples_ms)
    return out


def _tcfg(run, T: TestbedSizes, seed: int):
    """The testbed's recipe (``00c``), so the reference detector and every variant train identically."""
    return run.train_config(epochs=T.epochs, batch_size=T.batch_size, lr=T.lr, seed=seed, ema=T.ema,
                            max_iters_per_epoch=T.max_iters_per_epoch)


def jobs(run, E: EffDetSizes, T: TestbedSizes, necks: dict[str, NeckConfig]) -> dict[tuple[str, int], DetectorJob]:
    """(variant, seed) -> job: every neck of ``E.necks`` with every seed of ``E.seeds``, and the EfficientDet
    ``E.effdet_model`` at the testbed's input with every seed of ``E.effdet_seeds``."""
    out = {}
    for label in E.necks:
        for seed in E.seeds:
            out[(label, seed)] = DetectorJob(_detector(T.image_size, necks[label]), _tcfg(run, T, seed),
                                             validate=True, bootstrap=T.bootstrap, keep_boot=True)
    spec = EfficientDetSpec(E.effdet_model, num_classes=10, image_size=T.image_size)
    for seed in E.effdet_seeds:
        out[(f"EfficientDet-{E.effdet_model.upper()}", seed)] = DetectorJob(
            spec, _tcfg(run, T, seed), validate=True, bootstrap=T.bootstrap, keep_boot=True)
    return out


def _job(job: DetectorJob, splits: dict, ckpt_dir, device: str) -> dict:
    return train_evaluate(job, splits, ckpt_dir, device=device, desc="04 detector")


def train_all(run, js: dict, splits: dict) -> pd.DataFrame:
    """Every job through ``run.map`` (a Dask cluster trains them side by side), cached in ``04_detectors``."""
    items = list(js.values())
    rows = run.map(_job, items, key=lambda j: j.key(splits), cache=run.cache("04_detectors",
                   fields=population_fields(items)), shared={"splits": splits, "ckpt_dir": run.checkpoints("04"),
                   "device": run.device}, desc="04 detectors")
    return pd.DataFrame([{"variant": v, "seed": s, **r} for (v, s), r in zip(js, rows)])


def metrics_table(trained: pd.DataFrame, necks: dict[str, NeckConfig], image_size: int) -> pd.DataFrame:
    """Per variant: AP, AP50, AP_S/M/L (mean over seeds), per-seed AP, converged, training time, neck cost."""
    cols = ["AP", "AP50", "APs", "APm", "APl", "train_seconds"]
    out = trained.groupby("variant", sort=False)[cols].mean()
    out["seeds"] = trained.groupby("variant", sort=False)["seed"].count()
    out["AP per seed"] = trained.groupby("variant", sort=False)["AP"].apply(lambda a: ", ".join(f"{v:.3f}" for v in a))
    out["all converged"] = trained.groupby("variant", sort=False)["converged"].all()
    cost = pd.DataFrame({lab: neck_cost(_detector(image_size, n), runs=0) for lab, n in necks.items()}).T
    return out.join(cost)


def paired_diff(trained: pd.DataFrame, a: str, b: str) -> dict:
    """AP of variant ``a`` minus ``b`` (:func:`~detdesign.detection.experiment.paired_difference`: same resamples
    for two detectors of a seed, mean over seeds, interval, per-seed differences, verdict)."""
    ta, tb = (trained[trained["variant"] == v].set_index("seed") for v in (a, b))
    return {"a": a, "b": b, **paired_difference(ta, tb)}


def curves(trained: pd.DataFrame) -> pd.DataFrame:
    """Validation AP per epoch of every training, long format (variant, seed, epoch, AP, AP50)."""
    return pd.concat([pd.DataFrame(json.loads(r.curve)).assign(variant=r.variant, seed=r.seed)
                      for r in trained.itertuples()], ignore_index=True)


def reference_curves(reference: pd.DataFrame) -> pd.DataFrame:
    """The validation curves of ``00c``'s reference detector rows (``testbed.train_all(..., only="scenes")``), long
    format with the seed taken from the run name ("scenes seed 0")."""
    long = testbed.curves(reference)
    return long.assign(seed=[int(r.split()[-1]) for r in long["run"]])


def curves_figure(cv: pd.DataFrame, reference: pd.DataFrame | None = None):
    """Validation AP per epoch of every variant and seed (the convergence check), with the reference FCOS
    detector of ``00c`` (same data, recipe and seeds) dashed when given."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for (v, s), g in cv.groupby(["variant", "seed"], sort=False):
        ax.plot(g["epoch"], g["AP"], color=f"C{list(cv['variant'].unique()).index(v)}",
                ls="-" if s == cv["seed"].min() else ":", label=f"{v} (seed {s})")
    if reference is not None:
        for s, g in reference.groupby("seed"):
            ax.plot(g["epoch"], g["AP"], color="k", ls="--", lw=1, label=f"reference FPN (00c, seed {s})")
    ax.set(xlabel="epoch", ylabel="validation AP", title="CIFAR-10 Scenes: necks and EfficientDet, validation AP")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def latency_table(necks: dict[str, NeckConfig], image_size: int, runs: int) -> pd.DataFrame:
    """Batch-1 CPU latency of each neck (one process, one after another; run when nothing else does)."""
    return pd.DataFrame({lab: neck_cost(_detector(image_size, n), runs=runs) for lab, n in necks.items()}).T


def claims(metrics: pd.DataFrame, graph: dict, fusion: dict, lat: pd.DataFrame, E: EffDetSizes,
           shares: pd.Series) -> list[Claim]:
    """Ledger rows: BiFPN beats FPN at matched neck MACs; fast fusion keeps softmax's accuracy and is faster.
    ``shares``: the share of positives on each level of the detectors' pyramid (a multi-scale fusion can only
    matter where every level carries positives)."""
    conv = Precondition.check("every neck training converged",
                              float(metrics.loc[list(E.necks), "all converged"].all()), "==", 1.0, "{:.0f}")
    seeds = Precondition.check("seeds per neck", float(len(E.seeds)), ">=", 2.0, "{:.0f}")
    learned = Precondition.check("lowest neck AP (a detector that learned)",
                                 float(metrics.loc[list(E.necks), "AP"].min()), ">=", 0.05, "{:.3f}")
    ratio = metrics.loc["FPN matched", "neck_MMACs"] / metrics.loc["BiFPN fast", "neck_MMACs"]
    matched = Precondition.check("|FPN / BiFPN neck MACs - 1|", float(abs(ratio - 1)), "<=", 0.10, "{:.2f}")
    levels = Precondition.check("smallest share of positives on a pyramid level", float(shares.dropna().min()),
                                ">=", 0.10, "{:.3f}")
    pre = (conv, seeds, learned, levels)
    rows = [Claim("04-bifpn-vs-fpn", "EfficientDet §3 (Table 4)", "BiFPN is more accurate than FPN",
                  f"AP BiFPN fast - FPN (same fusion layer, neck MACs ratio {ratio:.2f}): {graph['diff']:+.4f} "
                  f"(per seed {', '.join(f'{d:+.4f}' for d in graph['seed_diffs'])})", graph["outcome"],
                  "CIFAR-10 Scenes, testbed recipe; paired bootstrap over test images, yes/no also need every seed",
                  interval(graph["lo"], graph["hi"], "{:+.4f}"), preconditions=(*pre, matched))]
    r, lo, hi = ratio_of_medians(lat.loc["BiFPN fast", "neck_latency_samples"],
                                 lat.loc["BiFPN softmax", "neck_latency_samples"])
    speed = timing_outcome(lo, hi, 1.0)
    acc = "yes" if fusion["lo"] > -0.01 else "no" if fusion["hi"] < -0.01 else "inconclusive"
    holds = "yes" if acc == "yes" and speed == "yes" else "no" if "no" in (acc, speed) else "inconclusive"
    rows.append(Claim("04-fast-fusion", "EfficientDet §3.3", "fast normalised fusion is as accurate as softmax "
                      "fusion and faster (paper: 1.26-1.31x on GPU)",
                      f"AP fast - softmax {fusion['diff']:+.4f} [{fusion['lo']:+.4f}, {fusion['hi']:+.4f}]; neck "
                      f"latency ratio fast/softmax {r:.3f} [{lo:.3f}, {hi:.3f}] (CPU, batch 1)", holds,
                      "as accurate: the AP interval's lower end above -0.01 (no: its upper end below -0.01); "
                      "faster: the latency ratio's interval below 1; speed-up numbers [UNVERIFIED]",
                      interval(lo, hi, "{:.3f}", "95% latency ratio"), preconditions=pre, timing=True))
    return rows


def findings(metrics: pd.DataFrame, graph: dict, fusion: dict, lat: pd.DataFrame, reference: pd.DataFrame,
             E: EffDetSizes) -> str:
    """The detection half's closing paragraph with this run's numbers (markdown)."""
    aps = ", ".join(f"{v} {r.AP:.3f} (S/M/L {r.APs:.3f}/{r.APm:.3f}/{r.APl:.3f})" for v, r in metrics.iterrows())
    ref = ", ".join(f"{r.AP:.3f}" for r in reference.itertuples())
    lat_txt = ", ".join(f"{v} {r.neck_latency_ms:.2f} ms" for v, r in lat.iterrows())
    return (f"**Detectors (CIFAR-10 Scenes, testbed recipe, {len(E.seeds)} seed(s) per neck).** Test AP (mean over "
            f"seeds): {aps}; the reference FCOS detector of 00c: {ref}. BiFPN fast - FPN at matched neck MACs: "
            f"{graph['diff']:+.4f} [{graph['lo']:+.4f}, {graph['hi']:+.4f}] ({graph['outcome']}); fast - softmax: "
            f"{fusion['diff']:+.4f} [{fusion['lo']:+.4f}, {fusion['hi']:+.4f}]. Neck latency, batch 1, CPU: {lat_txt}. "
            f"Every training converged: {'yes' if metrics['all converged'].all() else 'no'}.")
