"""Notebook ``02_proxy_vs_accuracy``: every registered proxy against NAS-Bench-201 accuracy.

- :func:`sample_cells` -- a seeded sample stratified by CIFAR-10 accuracy decile whose prefix property makes
  a larger run a superset of a smaller one (so the result cache only grows), plus NASLib cells for the
  cross-check.
- :func:`score_cells` -- all proxies on each cell (one NB201Net built per cell, one real CIFAR-10 batch),
  cached per cell.
- :func:`correlations`, :func:`bootstrap_ci`, :func:`top_precision` -- rank statistics (scipy.stats).
- :func:`naslib_agreement`, :func:`cost_table` -- the cross-check and the cost in forward-pass units.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

from detdesign.arch.nb201_net import NB201Net
from detdesign.data import load_cifar10
from detdesign.progress import progress
from detdesign.proxies import compute
from detdesign.results import ResultCache
from detdesign.stats import rank_ci

PROXIES = ("params", "flops", "grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "naswot",
           "te_nas", "zen", "phi")
TARGETS = {"c10_test": "CIFAR-10 (200 ep)", "c100_test": "CIFAR-100 (200 ep)",
           "in16_test": "ImageNet16-120 (200 ep)", "c10_test_12": "CIFAR-10 (12 ep)"}
PAPER_C10 = {"grad_norm": 0.594, "snip": 0.596, "grasp": 0.514, "fisher": 0.360, "synflow": 0.737,
             "jacob_cov": 0.731}  # Abdelfattah et al. ICLR 2021, Table 1, |Spearman|, all 15,625 cells
NASLIB_NAMES = {"params": "params", "flops": "flops", "grad_norm": "grad_norm", "snip": "snip",
                "grasp": "grasp", "fisher": "fisher", "synflow": "synflow", "jacob_cov": "jacov"}


def cifar_batch(n: int = 64, seed: int = 42):
    """One real CIFAR-10 training batch of ``n`` images (seeded), normalised: (x [n,3,32,32], y [n])."""
    per_class = -(-n // 10) + 1
    cifar = load_cifar10("train", n_per_class=per_class, seed=seed)
    x, y = cifar.tensors()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n]
    return x[order], y[order]


def sample_cells(nb201: pd.DataFrame, n: int, seed: int, extra: list[str] = ()) -> list[str]:
    """``n`` cells stratified over CIFAR-10 accuracy deciles (prefix-stable), then ``extra`` cells."""
    bins = pd.qcut(nb201["c10_test"].rank(method="first"), 10, labels=False)
    rng = np.random.default_rng(seed)
    strata = [list(rng.permutation(nb201.loc[bins == b, "arch"].to_numpy())) for b in range(10)]
    picked = [strata[i % 10][i // 10] for i in range(n)]
    seen = set(picked)
    return picked + [a for a in extra if not (a in seen or seen.add(a))]


def score_cell(arch: str, data, proxies=PROXIES, seed: int = 42) -> dict:
    """All ``proxies`` on the NB201 network of ``arch`` (values and seconds per proxy)."""
    net = NB201Net(arch, num_classes=10)
    row = {"arch": arch}
    x, _ = data
    for name in proxies:
        res = compute(name, net, resolution=x.shape[-1], batch_size=len(x), seed=seed, data=data)
        row[name], row[f"{name}_s"] = res.value, res.seconds
    return row


def score_cells(archs, data, cache: ResultCache, proxies=PROXIES, seed: int = 42) -> pd.DataFrame:
    """:func:`score_cell` for every cell, read from / written to ``cache`` (resumable)."""
    rows = []
    for arch in progress(archs, desc="NB201 cells"):
        key = f"{arch}|s{seed}|b{len(data[1])}"
        rows.append(cache.get_or_compute(key, lambda arch=arch: score_cell(arch, data, proxies, seed)))
    return pd.DataFrame(rows)


def _clean(df: pd.DataFrame, proxy: str, target: str) -> pd.DataFrame:
    sub = df[[proxy, target]].replace([np.inf, -np.inf], np.nan).dropna()
    return sub


def correlations(df: pd.DataFrame, proxies=PROXIES, targets=tuple(TARGETS)) -> pd.DataFrame:
    """Spearman and Kendall of each proxy with each target (signed), with the number of cells used."""
    rows = []
    for p in proxies:
        for t in targets:
            sub = _clean(df, p, t)
            rows.append({"proxy": p, "target": t, "n": len(sub),
                         "spearman": stats.spearmanr(sub[p], sub[t]).statistic,
                         "kendall": stats.kendalltau(sub[p], sub[t]).statistic})
    return pd.DataFrame(rows)


def bootstrap_ci(df: pd.DataFrame, proxy: str, target: str, n_resamples: int, seed: int) -> tuple:
    """95% percentile-bootstrap interval of Spearman(proxy, target) over cells (``scipy.stats.bootstrap``)."""
    sub = _clean(df, proxy, target)
    return rank_ci(sub[proxy].to_numpy(), sub[target].to_numpy(), "spearman", n_resamples, seed)


def top_precision(df: pd.DataFrame, proxy: str, target: str, frac: float = 0.1) -> float:
    """Share of the top-``frac`` cells by proxy that are also top-``frac`` by accuracy."""
    sub = _clean(df, proxy, target)
    k = max(1, round(frac * len(sub)))
    top_p = set(sub[proxy].nlargest(k).index)
    top_t = set(sub[target].nlargest(k).index)
    return len(top_p & top_t) / k


def naslib_agreement(ours: pd.DataFrame, naslib: pd.DataFrame) -> pd.DataFrame:
    """Spearman between our value and NASLib's precomputed one, per proxy, on the shared cells."""
    joined = ours.merge(naslib[~naslib["naslib_failed"]], on="arch", suffixes=("", "_naslib"))
    rows = []
    for ours_name, theirs in NASLIB_NAMES.items():
        col = theirs if theirs not in ours.columns else f"{theirs}_naslib"
        sub = joined[[ours_name, col]].replace([np.inf, -np.inf], np.nan).dropna()
        rows.append({"proxy": ours_name, "n": len(sub),
                     "spearman_vs_naslib": stats.spearmanr(sub[ours_name], sub[col]).statistic})
    return pd.DataFrame(rows)


def forward_costs(arch: str, data, runs: int = 3) -> dict:
    """Seconds of one forward pass and of forward + backward (cross-entropy) of ``arch`` on ``data``."""
    net = NB201Net(arch, num_classes=10).train()
    x, y = data
    fwd, fwd_bwd = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        with torch.no_grad():
            net(x)
        fwd.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        F.cross_entropy(net(x), y).backward()
        fwd_bwd.append(time.perf_counter() - t0)
    return {"forward_s": float(np.median(fwd)), "forward_backward_s": float(np.median(fwd_bwd))}


def cost_table(scores: pd.DataFrame, costs: pd.DataFrame, proxies=PROXIES) -> pd.DataFrame:
    """Median seconds per proxy per cell, and in units of one forward / one forward+backward pass."""
    merged = scores.merge(costs, on="arch")
    rows = []
    for p in proxies:
        rows.append({"proxy": p, "seconds": float(merged[f"{p}_s"].median()),
                     "x_forward": float((merged[f"{p}_s"] / merged["forward_s"]).median()),
                     "x_forward_backward": float((merged[f"{p}_s"] / merged["forward_backward_s"]).median())})
    return pd.DataFrame(rows)


def time_proxy(archs, data, name: str, seed: int = 42, **options) -> float:
    """Median seconds of one ``name`` draw over ``archs`` (e.g. ``te_nas`` with ``train_mode=True``)."""
    x, _ = data
    secs = [compute(name, NB201Net(a, num_classes=10), resolution=x.shape[-1], batch_size=len(x), seed=seed,
                    data=data, **options).seconds for a in archs]
    return float(np.median(secs))
