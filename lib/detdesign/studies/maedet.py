"""Notebook ``03_msep_ablation`` redone: MAE-DET's claims in the official search space, at equal depth, where
scales exist.

The paper (MAE-DET, ICML 2022): the multi-scale entropy prior ``Z = sum_i alpha_i S_i`` with ``alpha = (0, 0, 1,
1, 6)`` over the stages C1..C5 (factsheet D) is positively correlated with detection mAP, represents it better
than the single-scale entropy (the last stage only), and a search that maximises it (coarse-to-fine) finds
backbones that beat ResNet-50 at the same FLOPs.

Protocol here (the module functions, in notebook order):

- **Space and budget** (:mod:`detdesign.search.maedet_space`): the official K1KxK1 space and mutator, with
  ResNet-50's layout at widths / ``M.divisor`` as the budget network (:func:`start`): its MACs at the testbed's
  input and the official 91-layer budget. Structures are TinyNAS text (odd ``L`` has no ZenNAS string).
- **Detector**: the testbed's FCOS detector with P3-P7 (P6/P7 from P5, the release's GFLv2 ``on_output``; C5
  alone feeds P5-P7, the setting alpha was chosen for), trained with the testbed's recipe (``00c``) on CIFAR-10
  Scenes, whose objects reach every level (:func:`level_shares` measures it).
- **Equal depth** (:func:`equal_depth_pool`): a seeded random walk of the official mutator keeps the networks with
  exactly ``M.layers`` TinyNAS convs and MACs within +-5% of the budget, so MSEP cannot be a depth count;
  :func:`spread` picks ``M.n_networks`` of them evenly over the MSEP range to train.
- **Scores** (:func:`score`): the analytic entropy's stage scores ``S_1..S_5`` (any alpha is a weighted sum of
  them), Zen-Score, params, MACs, layers. :func:`matched_alpha` sets alpha to the measured share of positives
  per level (P3 -> C3, P4 -> C4, P5-P7 -> C5), scaled to the paper's total of 8.
- **Correlations** (:func:`correlations`): Kendall tau of each score with test AP (mean over seeds), a bootstrap
  interval over networks and each seed's own tau; :func:`partial_tau` for the free-depth sweep of the old
  notebook (its confound).
"""

from __future__ import annotations

import math
import random

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from detdesign.arch import ZenNet
from detdesign.arch.tinynas_format import parse_tinynas, tinynas_layers
from detdesign.claims import Claim, Effect, Precondition, decided, descriptive_if_unaffordable, sign_outcome
from detdesign.detection import DetectorConfig
from detdesign.detection.experiment import DetectorJob, train_population
from detdesign.detection.recipe import level_shares as pyramid_shares
from detdesign.detection.recipe import p3p7_detector, testbed_recipe
from detdesign.profiles import MaeDetSizes, TestbedSizes
from detdesign.proxies import compute
from detdesign.proxies.entropy import analytic_stage_scores, resolve_alpha
from detdesign.results import content_key
from detdesign.search.maedet_space import budget_macs as _budget_macs
from detdesign.search.maedet_space import budget_network, scaled_space
from detdesign.search.space import cost
from detdesign.seed_noise import SCENES_V1_AP
from detdesign.stats import kendall_networks_for_power, partial_kendall, rank_ci, rank_corr, units_for_power
from detdesign.training import curves as long_curves

PAPER_ALPHA = (0.0, 0.0, 1.0, 1.0, 6.0)  # MAE-DET's default over C1..C5 (factsheet D)
SCORES = ("msep", "single", "msep_matched", "zen", "params")
TOLERANCE = 0.05  # equal MACs: within +-5% of the budget network's


def start(M: MaeDetSizes) -> str:
    """The budget network: ResNet-50's TinyNAS layout with widths / ``M.divisor`` (TinyNAS text)."""
    return budget_network(M.divisor)


def budget_macs(M: MaeDetSizes, T: TestbedSizes) -> int:
    """Backbone MACs of :func:`start` at the testbed's input: the budget of every network of the study."""
    return _budget_macs(M.divisor, T.image_size)


def equal_depth_pool(M: MaeDetSizes, T: TestbedSizes, seed: int) -> list[str]:
    """Networks of the official space with exactly ``M.layers`` TinyNAS convs and MACs within +-5% of the budget:
    a seeded random walk of the official mutator from :func:`start` (a child within +-20% of the budget MACs
    becomes the walker; every distinct child at the depth and +-5% joins the pool), the start first."""
    space, budget = scaled_space(M.divisor, T.image_size), budget_macs(M, T)
    rng, cur = random.Random(seed), start(M)
    pool = dict.fromkeys([cur] if tinynas_layers(parse_tinynas(cur)) == M.layers else [])
    for _ in range(M.walk_steps):
        if len(pool) >= M.pool:
            break
        child = space.mutate(cur, rng)
        c = cost(child, T.image_size)
        if abs(c.macs / budget - 1) <= 0.2:
            cur = child
            if c.layers == M.layers and abs(c.macs / budget - 1) <= TOLERANCE:
                pool[child] = None
    return list(pool)


def score(structure: str, M: MaeDetSizes, T: TestbedSizes, seed: int) -> dict:
    """Stage scores ``S_1..S_5`` of the analytic entropy, Zen-Score (at ``M.proxy_resolution``), params, MACs at
    the testbed's input and TinyNAS layers of one backbone."""
    blocks, c = parse_tinynas(structure), cost(structure, T.image_size)
    stages = analytic_stage_scores(blocks)
    zen = compute("zen", ZenNet(structure, num_classes=1), resolution=M.proxy_resolution, batch_size=M.proxy_batch,
                  seed=seed).value
    return {"stages": stages, "zen": zen, "params": c.params, "macs": c.macs, "layers": tinynas_layers(blocks)}


def score_all(run, structures: list[str], M: MaeDetSizes, T: TestbedSizes, seed: int,
              alpha_matched: tuple = PAPER_ALPHA) -> pd.DataFrame:
    """:func:`score` of every structure through ``run.map`` (cached in ``03_maedet_scores``), with the entropy under
    the paper's alpha (``msep``), the last stage only (``single``) and ``alpha_matched`` (``msep_matched``)."""
    rows = run.map(score, structures, key=lambda s: content_key("maedet-score", s, T.image_size,
                                                                       M.proxy_resolution, M.proxy_batch, seed),
                   cache=run.cache("03_maedet_scores", fields=("stages", "zen", "params", "macs", "layers")),
                   shared={"M": M, "T": T, "seed": seed}, desc="scoring")
    df = pd.DataFrame([{"structure": s, **r} for s, r in zip(structures, rows)])
    return with_alphas(df, alpha_matched)


def with_alphas(df: pd.DataFrame, alpha_matched: tuple) -> pd.DataFrame:
    """``msep``, ``single`` and ``msep_matched`` from the stored stage scores (no network is rebuilt)."""
    df = df.copy()
    for col, alpha in (("msep", PAPER_ALPHA), ("single", "single"), ("msep_matched", alpha_matched)):
        df[col] = [sum(a * s for a, s in zip(resolve_alpha(alpha, len(st)), st)) for st in df["stages"]]
    return df


def spread(scores: pd.DataFrame, n: int, col: str = "msep") -> list[str]:
    """``n`` structures spread evenly over the range of ``col`` (the nearest to n evenly spaced values)."""
    ordered = scores.sort_values(col).reset_index(drop=True)
    targets = np.linspace(ordered[col].iloc[0], ordered[col].iloc[-1], n)
    picked: list[str] = []
    for t in targets:
        free = ordered[~ordered["structure"].isin(picked)]
        picked.append(free.loc[(free[col] - t).abs().idxmin(), "structure"])
    return picked


def detector(structure: str, T: TestbedSizes, num_classes: int) -> DetectorConfig:
    """The testbed's FCOS detector with ``structure`` as backbone and P3-P7 (FCOS ranges scaled to the input)."""
    return p3p7_detector(structure, T.image_size, num_classes)


def level_shares(data: dict, M: MaeDetSizes, T: TestbedSizes) -> pd.DataFrame:
    """Share of the FCOS positives of each training split on P3..P7 of :func:`detector` (per dataset; the
    assignment depends on the strides and the FCOS ranges only, not on the backbone)."""
    return pd.DataFrame({name: pyramid_shares(detector(start(M), T, len(splits["train"].classes)),
                                              splits["train"].targets) for name, splits in data.items()}).T


def matched_alpha(shares: pd.Series, total: float = 8.0) -> tuple[float, ...]:
    """Alpha over C1..C5 proportional to the positives each stage feeds: C3 <- P3, C4 <- P4, C5 <- P5 + P6 + P7
    (P6, P7 come from P5), scaled to the paper's total (0 + 0 + 1 + 1 + 6 = 8)."""
    feed = np.array([0.0, 0.0, shares["P3"], shares["P4"], shares[["P5", "P6", "P7"]].sum()])
    return tuple(float(v) for v in total * feed / feed.sum())


def job(structure: str, run, T: TestbedSizes, seed: int, num_classes: int, epochs: int | None = None) -> DetectorJob:
    """One detector with the testbed's recipe (``epochs`` overrides its length), a validation curve and the
    per-resample test AP kept (paired comparisons)."""
    return DetectorJob(detector(structure, T, num_classes), testbed_recipe(T, seed, epochs=epochs, **run.speed),
                       validate=True, bootstrap=T.bootstrap, keep_boot=True)


def train(run, items: list[tuple[str, str, DetectorJob]], data: dict) -> pd.DataFrame:
    """``items = [(label, dataset, job)]`` trained through ``run.map`` (cached in ``03_maedet_detectors``): one
    row each with the label, dataset, seed, structure and the test metrics."""
    rows = train_population(run, [(d, j) for _, d, j in items], data, "03_maedet_detectors", "03m",
                            desc="03 detectors")
    return pd.DataFrame([{"label": lab, "dataset": d, "seed": j.tcfg.seed, "structure": j.cfg.backbone, **r}
                         for (lab, d, j), r in zip(items, rows)])


def seed_noise(run, trained: pd.DataFrame) -> float:
    """Add every scenes network's seeds to the seed-noise table and return the pooled seed SD of AP on the scenes."""
    scenes = trained[trained["dataset"] == "scenes"]
    return run.seed_noise.add(SCENES_V1_AP, scenes, "structure", "AP", "03_msep_ablation",
                              lambda s: f"network {content_key('maedet-net', s)} (03)")


def mean_ap(trained: pd.DataFrame) -> pd.DataFrame:
    """Per structure and dataset: AP and AP_S/M/L averaged over seeds, per-seed AP, and all-converged."""
    g = trained.groupby(["dataset", "structure"], sort=False)
    out = g[["AP", "APs", "APm", "APl"]].mean()
    out["AP_seeds"] = g["AP"].apply(list)
    out["converged"] = g["converged"].all()
    return out.reset_index()


def correlations(df: pd.DataFrame, M: MaeDetSizes, seed: int, target: str = "AP") -> pd.DataFrame:
    """Kendall tau of each score of :data:`SCORES` with ``target`` (mean over seeds), its 95% bootstrap interval
    over networks, and each seed's own tau (from ``AP_seeds``)."""
    rows = []
    for col in SCORES:
        tau = rank_corr(df[col], df[target], "kendall")
        lo, hi = rank_ci(df[col], df[target], "kendall", M.bootstrap, seed) if len(df) >= 3 else (math.nan,) * 2
        seeds = [rank_corr(df[col], df["AP_seeds"].map(lambda a, i=i: a[i]), "kendall")
                 for i in range(min(map(len, df["AP_seeds"])))]
        rows.append({"score": col, "tau": tau, "lo": lo, "hi": hi, "tau_per_seed": seeds, "n": len(df)})
    return pd.DataFrame(rows).set_index("score")


def partial_tau(x, y, z) -> float:
    """Kendall's partial tau of x and y given z (:func:`detdesign.stats.partial_kendall`)."""
    return partial_kendall(x, y, z)


def pool_figure(pool: pd.DataFrame, picked: list[str], budget: int):
    """The equal-depth pool: MSEP against MACs (all at the same conv count), the trained networks marked."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    sel = pool["structure"].isin(picked)
    ax.scatter(pool["macs"] / budget, pool["msep"], s=14, color="0.6", label="pool (same depth, +-5% MACs)")
    ax.scatter(pool.loc[sel, "macs"] / budget, pool.loc[sel, "msep"], s=40, color="C3", label="trained")
    ax.set(xlabel="MACs / budget", ylabel="MSEP (analytic, alpha = 0,0,1,1,6)",
           title=f"{len(pool)} networks of the official space at {pool['layers'].iloc[0]} convs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def scatter_figure(df: pd.DataFrame, corr: pd.DataFrame):
    """Test AP (mean over seeds, the seeds as small dots) against each score, Kendall tau in the title."""
    fig, axes = plt.subplots(1, len(SCORES), figsize=(3.2 * len(SCORES), 3.2), sharey=True)
    for ax, col in zip(axes, SCORES):
        for x, seeds in zip(df[col], df["AP_seeds"]):
            ax.scatter([x] * len(seeds), seeds, s=8, color="0.6")
        ax.scatter(df[col], df["AP"], s=30, color="C0")
        ax.set_title(f"{col}: tau {corr.loc[col, 'tau']:+.2f}", fontsize=9)
    axes[0].set_ylabel("test AP (CIFAR-10 Scenes)")
    fig.suptitle("Equal depth, equal MACs: score vs detection AP")
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


def curves_figure(trained: pd.DataFrame, title: str):
    """Validation AP per epoch of every training (the curves stored with each row), one panel per dataset."""
    cv = long_curves(trained, ("label", "dataset", "seed"))
    sets = list(cv["dataset"].unique())
    fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 3.4), squeeze=False)
    for ax, d in zip(axes[0], sets):
        for (lab, s), g in cv[cv["dataset"] == d].groupby(["label", "seed"], sort=False):
            ax.plot(g["epoch"], g["AP"], lw=1, label=f"{lab} s{s}")
        ax.set(title=d, xlabel="epoch", ylabel="validation AP")
    axes[0][-1].legend(fontsize=6, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _corr_gate(dec, effect: float, lo: float, hi: float, n: int, unit_h: float, hours: float, kendall: bool):
    """The power gate of a correlation over networks: networks for 80% power at the measured effect (Kendall's null
    variance for a tau; for a difference of taus, the bootstrap SE shrinking as 1 / sqrt(n)), each network costing
    ``unit_h`` worker-hours (its seeds); beyond the profile's ``hours`` the row is descriptive."""
    if not (math.isfinite(effect) and math.isfinite(lo) and math.isfinite(hi)):
        return dec
    need = kendall_networks_for_power(effect) if kendall else units_for_power(effect, (hi - lo) / 3.92, n)
    return descriptive_if_unaffordable(dec, need, n, "networks", unit_h, hours)


def correlation_claims(corr: pd.DataFrame, diff: tuple, alpha_diff: tuple, shares: pd.Series, mean: pd.DataFrame,
                       M: MaeDetSizes, alpha: tuple, train_h: float, hours: float) -> list[Claim]:
    """Ledger rows of items 1-2: MSEP correlates with AP at equal depth; MSEP beats single-scale; the paper's
    alpha against alpha matched to the positives. Each decides on its bootstrap interval over networks (the mean
    AP over seeds carries the seed noise into the network-to-network scatter the bootstrap resamples); an
    undecided row is gated by power (``train_h``: worker-hours of one training; a network costs its seeds;
    ``hours``: the profile's budget of one claim)."""
    unit_h = len(M.seeds) * train_h
    pre = (Precondition.check("networks trained (a rank correlation needs >= 8)", float(len(mean)), ">=", 8.0,
                              "{:.0f}"),
           Precondition.check("seeds per network", float(len(M.seeds)), ">=", 2.0, "{:.0f}"),
           Precondition.check("smallest share of positives a weighted stage feeds (C3 <- P3, C4 <- P4, "
                              "C5 <- P5-P7)", float(min(shares["P3"], shares["P4"], shares[["P5", "P6", "P7"]].sum())),
                              ">=", 0.10, "{:.3f}"))
    m = corr.loc["msep"]
    n = int(m.n)
    d, dlo, dhi = diff
    a, alo, ahi = alpha_diff
    given_params = partial_tau(mean["msep"], mean["AP"], mean["params"]) if n >= 3 else math.nan

    def sign(lo, hi):
        return decided(sign_outcome(lo, hi) if math.isfinite(lo) and math.isfinite(hi) else "inconclusive")

    flipped = decided({"yes": "no", "no": "yes"}.get(sign(alo, ahi).holds, "inconclusive"))
    return [
        Claim("03-msep-corr", "MAE-DET", "detection mAP and multi-scale entropy are positively correlated",
              f"Kendall tau(MSEP, AP) = {m.tau:+.2f} [{m.lo:+.2f}, {m.hi:+.2f}] over {n} networks at "
              f"{M.layers} convs and +-5% MACs (per seed {', '.join(f'{t:+.2f}' for t in m.tau_per_seed)}); "
              f"partial tau given params {given_params:+.2f}", _corr_gate(sign(m.lo, m.hi), m.tau, m.lo, m.hi, n,
                                                                         unit_h, hours, True),
              "equal depth removes the depth confound of the old sweep; bootstrap over networks; a positive tau that "
              "the partial tau given params does not keep would say 'wider networks do better', not MSEP",
              preconditions=pre, effect=_tau_effect(m.tau, m.lo, m.hi, "Kendall tau(MSEP, AP)")),
        Claim("03-msep-vs-single", "MAE-DET", "single-scale entropy represents mAP worse than multi-scale",
              f"tau(MSEP) - tau(single) = {d:+.2f} [{dlo:+.2f}, {dhi:+.2f}]",
              _corr_gate(sign(dlo, dhi), d, dlo, dhi, n, unit_h, hours, False), "paired bootstrap over networks",
              preconditions=pre, effect=_tau_effect(d, dlo, dhi, "tau(MSEP) - tau(single)")),
        Claim("03-alpha", "MAE-DET", "alpha = (0, 0, 1, 1, 6) is a good multi-scale prior",
              f"tau(matched alpha {', '.join(f'{v:.1f}' for v in alpha)}) - tau(paper's) = {a:+.2f} "
              f"[{alo:+.2f}, {ahi:+.2f}]", _corr_gate(flipped, a, alo, ahi, n, unit_h, hours, False),
              "no: alpha matched to the measured positives per level ranks the networks better (interval above 0); "
              "yes: the paper's ranks them better", preconditions=pre,
              effect=_tau_effect(a, alo, ahi, "tau(matched alpha) - tau(paper's)")),
    ]


def _tau_effect(value: float, lo: float, hi: float, label: str) -> Effect | None:
    return Effect(float(value), float(lo), float(hi), 0.0, label=label) if math.isfinite(value) else None


def findings(corr: pd.DataFrame, diff: tuple, alpha_diff: tuple, shares: pd.DataFrame, mean: pd.DataFrame,
             old_tau: dict, alpha: tuple) -> str:
    """Items 1-2's closing paragraph with this run's numbers (markdown)."""
    m = corr.loc["msep"]
    taus = ", ".join(f"{c} {r.tau:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}]" for c, r in corr.iterrows())
    lv = "; ".join(f"{d}: " + ", ".join(f"{c} {100 * v:.0f}%" for c, v in r.items()) for d, r in shares.iterrows())
    return (f"**Equal depth ({m.n} networks, {mean['layers'].iloc[0]} convs, +-5% MACs).** Kendall tau with test AP: "
            f"{taus}. tau(MSEP) - tau(single) {diff[0]:+.2f} [{diff[1]:+.2f}, {diff[2]:+.2f}]; matched alpha "
            f"({', '.join(f'{v:.1f}' for v in alpha)}) - paper's {alpha_diff[0]:+.2f} [{alpha_diff[1]:+.2f}, "
            f"{alpha_diff[2]:+.2f}]. Every training's last-quarter gain below 0.01 (a diagnostic): "
            f"{'yes' if mean['converged'].all() else 'no'}. "
            f"Positives per level: {lv}. **The old free-depth sweep:** tau(MSEP, conv count) "
            f"{old_tau['msep_layers']:+.2f}, tau(MSEP, AP) {old_tau['msep_ap']:+.2f}, partial tau given depth "
            f"{old_tau['partial']:+.2f}.")
