"""Notebook ``04_compound_scaling``, parts 1-3: EfficientNet and EfficientDet built from this package, the BiFPN
against FPN as two graphs of one fusion layer, and a small EfficientDet trained on the multi-scale testbed.

1. :func:`efficientnet_table`, :func:`implied_phi`, :func:`efficientdet_table`: B0-B7 and D0-D7x from our code
   (meta device, the project's FLOP counter) next to the paper's and the official implementation's counts.
2. :func:`detdesign.detection.ablation.neck_variants`: the reference FCOS detector of ``00c`` (ResNet-18-like backbone,
   P3-P5) with its neck replaced by BiFPN layers (fast, softmax and plain-sum fusion, D0's width 64 and 3 layers)
   or by FPN layers of the *same* fusion layer (same separable conv, BN, swish) repeated until the neck's MACs
   match the BiFPN's: the graph is the one variable. Trained with the testbed's recipe on CIFAR-10 Scenes, every
   seed; AP differences from a paired bootstrap over test images (same resamples for two detectors of a seed).
3. :func:`effdet_job`: EfficientDet-D0's architecture (anchors, focal + Huber loss) at the testbed's input,
   trained with the same recipe beside the reference FCOS detector.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torchvision

from detdesign.arch.efficientnet import COEFFICIENTS, efficientnet
from detdesign.claims import (
    Claim,
    Decision,
    Precondition,
    all_of,
    decide_difference,
    decide_non_inferiority,
    interval,
    timing_outcome,
)
from detdesign.claims.power import seed_gate
from detdesign.detection import NeckConfig
from detdesign.detection.ablation import neck_cost, neck_detector
from detdesign.detection.efficientdet import EfficientDetNet, fpn_topology, resolve_config
from detdesign.detection.efficientdet_model import EfficientDetSpec
from detdesign.detection.experiment import DetectorJob, paired_difference, train_population
from detdesign.detection.recipe import testbed_recipe
from detdesign.measure import count_flops, count_params
from detdesign.profiles import EffDetSizes, TestbedSizes
from detdesign.scaling.efficientdet import OFFICIAL_COUNTS, PAPER_COCO
from detdesign.seed_noise import SCENES_V1_AP
from detdesign.stats import ratio_of_medians
from detdesign.training import curves as long_curves

LATENCY_BATCH = 16  # the second latency batch: the training batch of testbed v2, where per-call overheads shrink

# EfficientNet paper, Table 2 (params M, FLOPs B); not in our factsheet, so [UNVERIFIED] in the notebook
PAPER_TABLE2 = {"b0": (5.3, 0.39), "b1": (7.8, 0.70), "b2": (9.2, 1.0), "b3": (12, 1.8), "b4": (19, 4.2),
                "b5": (30, 9.9), "b6": (43, 19), "b7": (66, 37)}


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


def jobs(run, E: EffDetSizes, T: TestbedSizes, necks: dict[str, NeckConfig]) -> dict[tuple[str, int], DetectorJob]:
    """(variant, seed) -> job: every neck of ``E.necks`` with every seed of ``E.seeds``, and the EfficientDet
    ``E.effdet_model`` at the testbed's input with every seed of ``E.effdet_seeds``."""
    out = {}
    for label in E.necks:
        for seed in E.seeds:
            out[(label, seed)] = DetectorJob(neck_detector(T.image_size, necks[label]),
                                             testbed_recipe(T, seed, **run.speed), validate=True,
                                             bootstrap=T.bootstrap, keep_boot=True)
    spec = EfficientDetSpec(E.effdet_model, num_classes=10, image_size=T.image_size)
    for seed in E.effdet_seeds:
        out[(f"EfficientDet-{E.effdet_model.upper()}", seed)] = DetectorJob(
            spec, testbed_recipe(T, seed, **run.speed), validate=True, bootstrap=T.bootstrap, keep_boot=True)
    return out


def train_all(run, js: dict, splits: dict) -> pd.DataFrame:
    """Every job through ``run.map`` (a Dask cluster trains them side by side), cached in ``04_detectors``."""
    rows = train_population(run, [("scenes", j) for j in js.values()], {"scenes": splits}, "04_detectors", "04",
                            desc="04 detectors")
    return pd.DataFrame([{"variant": v, "seed": s, **r} for (v, s), r in zip(js, rows)])


def seed_noise(run, trained: pd.DataFrame) -> float:
    """Add every variant's seeds to the seed-noise table (AP on CIFAR-10 Scenes v1, testbed recipe) and return the
    pooled seed SD of that instrument."""
    return run.seed_noise.add(SCENES_V1_AP, trained, "variant", "AP", "04_compound_scaling", lambda v: f"{v} (04)")


def metrics_table(trained: pd.DataFrame, necks: dict[str, NeckConfig], image_size: int) -> pd.DataFrame:
    """Per variant: AP, AP50, AP_S/M/L (mean over seeds), per-seed AP, converged, training time, neck cost."""
    cols = ["AP", "AP50", "APs", "APm", "APl", "train_seconds"]
    out = trained.groupby("variant", sort=False)[cols].mean()
    out["seeds"] = trained.groupby("variant", sort=False)["seed"].count()
    out["AP per seed"] = trained.groupby("variant", sort=False)["AP"].apply(lambda a: ", ".join(f"{v:.3f}" for v in a))
    out["all converged"] = trained.groupby("variant", sort=False)["converged"].all()
    cost = pd.DataFrame({lab: neck_cost(neck_detector(image_size, n), runs=0) for lab, n in necks.items()}).T
    return out.join(cost)


def paired_diff(trained: pd.DataFrame, a: str, b: str, sigma: float):
    """AP of variant ``a`` minus ``b`` as a seed-aware :class:`~detdesign.claims.Difference`
    (:func:`~detdesign.detection.experiment.paired_difference`: same resamples for two detectors of a seed)."""
    ta, tb = (trained[trained["variant"] == v].set_index("seed") for v in (a, b))
    return paired_difference(ta, tb, sigma)


def curves_figure(trained: pd.DataFrame, reference: pd.DataFrame | None = None):
    """Validation AP per epoch of every variant and seed (the curves stored with each row), with the reference
    FCOS detector of ``00c`` (its rows from ``testbed.train_all(..., only="scenes")``: same data, recipe and seeds)
    dashed when given."""
    cv = long_curves(trained, ("variant", "seed"))
    if reference is not None:
        reference = long_curves(reference, ("run",))
        reference = reference.assign(seed=[int(r.split()[-1]) for r in reference["run"]])
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


def latency_table(necks: dict[str, NeckConfig], image_size: int, runs: int, batch: int = 1) -> pd.DataFrame:
    """CPU latency of each neck on ``batch`` images' features (one process, one after another; run when nothing
    else does)."""
    return pd.DataFrame({lab: neck_cost(neck_detector(image_size, n), runs=runs, batch=batch)
                         for lab, n in necks.items()}).T


def _latency_ratio(lat: pd.DataFrame) -> tuple[float, float, float]:
    """Median latency ratio BiFPN fast / softmax with its bootstrap interval."""
    return ratio_of_medians(lat.loc["BiFPN fast", "neck_latency_samples"],
                            lat.loc["BiFPN softmax", "neck_latency_samples"])


def claims(metrics: pd.DataFrame, graph, fusion, lat: pd.DataFrame, pre: tuple, sigma: float, per_seed_h: float,
           hours: float, where: str, lat_batch: tuple[int, pd.DataFrame] | None = None) -> list[Claim]:
    """Ledger rows: BiFPN beats FPN at matched neck MACs; fast fusion keeps softmax's accuracy and is faster.
    ``metrics``: one row per neck (``neck_MMACs``); ``graph`` / ``fusion``: the seed-aware Differences (one per
    schedule measured, shortest first) of BiFPN fast - FPN and fast - softmax; ``pre``: the preconditions of both
    rows (seeds, learned classes, level shares: a multi-scale fusion can only matter where every level carries
    positives); ``per_seed_h``: worker-hours one more seed of the comparison costs; ``hours``: the profile's
    budget; ``where``: the testbed and recipe, for the protocol column; ``lat_batch``: (batch, latency table) at
    a batch where the fusion's share of the work is larger, reported beside the batch-1 ratio that decides."""
    graph, fusion = list(graph), list(fusion)
    ratio = metrics.loc["FPN matched", "neck_MMACs"] / metrics.loc["BiFPN fast", "neck_MMACs"]
    matched = Precondition.check("|FPN / BiFPN neck MACs - 1|", float(abs(ratio - 1)), "<=", 0.10, "{:.2f}")
    g = graph[-1]
    rows = [Claim("04-bifpn-vs-fpn", "EfficientDet §3 (Table 4)", "BiFPN is more accurate than FPN",
                  f"AP BiFPN fast - FPN (same fusion layer, neck MACs ratio {ratio:.2f}): {g.diff:+.4f} at "
                  f"{g.schedule:g}S (per seed {g.seeds_text()})",
                  seed_gate(decide_difference(graph), g, sigma, per_seed_h, hours),
                  f"{where}; interval: {g.method}", g.text(), preconditions=(*pre, matched))]
    r, lo, hi = _latency_ratio(lat)
    speed = timing_outcome(lo, hi, 1.0)
    at_batch = ""
    if lat_batch is not None:
        rb, lob, hib = _latency_ratio(lat_batch[1])
        at_batch = f"; at batch {lat_batch[0]} {rb:.3f} [{lob:.3f}, {hib:.3f}]"
    acc = seed_gate(decide_non_inferiority(fusion, 0.01), fusion[-1], sigma, per_seed_h, hours, margin=0.01)
    both = all_of([acc.lean or "inconclusive", speed])
    holds = acc if acc.holds not in ("yes", "no") else Decision(all_of([acc.holds, speed]), both, "", acc.detail)
    f = fusion[-1]
    rows.append(Claim("04-fast-fusion", "EfficientDet §3.3", "fast normalised fusion is as accurate as softmax "
                      "fusion and faster (paper: 1.26-1.31x on GPU)",
                      f"AP fast - softmax {f.text()} at {f.schedule:g}S; neck latency ratio fast/softmax {r:.3f} "
                      f"[{lo:.3f}, {hi:.3f}] (CPU, batch 1){at_batch}",
                      Decision(holds.holds, both, holds.reason, holds.detail),
                      "as accurate: non-inferiority, the AP interval above -0.01 (seed-aware); faster: the latency "
                      "ratio's interval below 1; speed-up numbers [UNVERIFIED]",
                      interval(lo, hi, "{:.3f}", "95% latency ratio"), preconditions=pre, timing=True))
    return rows


def findings(metrics: pd.DataFrame, graph, fusion, lat: pd.DataFrame, reference: pd.DataFrame,
             E: EffDetSizes) -> str:
    """The detection half's closing paragraph with this run's numbers (markdown)."""
    aps = ", ".join(f"{v} {r.AP:.3f} (S/M/L {r.APs:.3f}/{r.APm:.3f}/{r.APl:.3f})" for v, r in metrics.iterrows())
    ref = ", ".join(f"{r.AP:.3f}" for r in reference.itertuples())
    lat_txt = ", ".join(f"{v} {r.neck_latency_ms:.2f} ms" for v, r in lat.iterrows())
    g, f = graph[-1], fusion[-1]
    return (f"**Detectors (CIFAR-10 Scenes, testbed recipe, {len(E.seeds)} seed(s) per neck).** Test AP (mean over "
            f"seeds): {aps}; the reference FCOS detector of 00c: {ref}. BiFPN fast - FPN at matched neck MACs: "
            f"{g.text()} at {g.schedule:g}S (interval with seed variance); fast - softmax: {f.text()}. Neck latency, "
            f"batch 1, CPU: {lat_txt}. Every training's last-quarter gain below 0.01 (a diagnostic, not the "
            f"convergence rule): {'yes' if metrics['all converged'].all() else 'no'}.")


def pairs_table(pairs: dict) -> pd.DataFrame:
    """The paired AP differences of the neck ablation, one row each: difference, 95% interval (seed variance
    included), each seed's own difference and how the interval was made."""
    return pd.DataFrame({k: {"diff": d.diff, "lo": d.lo, "hi": d.hi, "per seed": d.seeds_text(), "interval": d.method}
                         for k, d in pairs.items()}).T


def fidelity_claims(effnets: pd.DataFrame, dets: pd.DataFrame) -> list[Claim]:
    """Our EfficientNet B0-B7 and EfficientDet D0-D7x against the official counts (fidelity rows of the ledger)."""
    from detdesign.claims import at_most, decided

    same = int((effnets["params_M"] == effnets["torchvision_params_M"]).sum())
    worst_p, worst_g = float(dets["params_err_%"].abs().max()), float(dets["GMACs_err_%"].abs().max())
    return [
        Claim("04-effnet-counts", "EfficientNet (torchvision's implementation)", "B0-B7 parameter counts of the "
              "official architecture", f"{same} of {len(effnets)} models match torchvision's parameter count exactly",
              decided(at_most(len(effnets) - same, 0)), "meta device, no weights", kind="fidelity"),
        Claim("04-effdet-counts", "EfficientDet (google/automl)", "D0-D7x parameters and FLOPs of the official "
              "implementation", f"largest deviation: params {worst_p:.2f}%, GMACs {worst_g:.2f}% over "
              f"{len(dets)} models", decided(all_of([at_most(worst_p, 1.0), at_most(worst_g, 2.0)])),
              "yes: every model within 1% of the official params and 2% of its GMACs", kind="fidelity"),
    ]
