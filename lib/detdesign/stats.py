"""Rank statistics with bootstrap intervals (scipy.stats), shared by the proxy and MSEP studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

METHODS = ("spearman", "kendall")


def rank_corr(x, y, method: str = "spearman") -> float:
    """Spearman rho or Kendall tau-b of two equal-length sequences."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return float("nan")  # a constant sample has no ranking (e.g. every detector at AP 0 in a smoke run)
    fn = stats.spearmanr if method == "spearman" else stats.kendalltau
    return float(fn(x, y).statistic)


def rank_ci(x, y, method: str = "spearman", n_resamples: int = 1000, seed: int = 0,
            level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap interval of :func:`rank_corr` over paired resamples (``scipy.stats.bootstrap``)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"need two paired samples of length >= 3, got {len(x)} and {len(y)}")
    if not np.isfinite(rank_corr(x, y, method)):
        return float("nan"), float("nan")
    res = stats.bootstrap((x, y), lambda a, b: rank_corr(a, b, method), paired=True, vectorized=False,
                          n_resamples=n_resamples, method="percentile", confidence_level=level,
                          rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def rank_diff_ci(a, b, y, method: str = "kendall", n_resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """``corr(a, y) - corr(b, y)`` and its paired-bootstrap interval (is proxy ``a`` better than ``b``?)."""
    a, b, y = (np.asarray(v, dtype=float) for v in (a, b, y))
    rng, n = np.random.default_rng(seed), len(y)
    diffs = []
    for _ in range(n_resamples):
        i = rng.integers(0, n, n)
        d = rank_corr(a[i], y[i], method) - rank_corr(b[i], y[i], method)
        if np.isfinite(d):
            diffs.append(d)
    point = rank_corr(a, y, method) - rank_corr(b, y, method)
    if not diffs or not np.isfinite(point):
        return point, float("nan"), float("nan")
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return rank_corr(a, y, method) - rank_corr(b, y, method), float(lo), float(hi)


def finite_pairs(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """The rows of ``df[cols]`` where every value is finite."""
    return df[list(cols)].replace([np.inf, -np.inf], np.nan).dropna()


def correlation_table(df: pd.DataFrame, proxies, targets) -> pd.DataFrame:
    """Spearman and Kendall of each proxy with each target (signed), with the number of cells used."""
    rows = []
    for p in proxies:
        for t in targets:
            sub = finite_pairs(df, p, t)
            rows.append({"proxy": p, "target": t, "n": len(sub),
                         "spearman": stats.spearmanr(sub[p], sub[t]).statistic,
                         "kendall": stats.kendalltau(sub[p], sub[t]).statistic})
    return pd.DataFrame(rows)


def interval_table(df: pd.DataFrame, proxies, target: str, n_resamples: int, seed: int) -> pd.DataFrame:
    """Signed Spearman and Kendall of each proxy with ``target`` and their 95% percentile-bootstrap intervals over
    cells (paired resamples, :func:`rank_ci`); cells with a non-finite value are dropped per proxy (``n`` counts
    the rest)."""
    rows = []
    for p in proxies:
        sub = finite_pairs(df, p, target)
        x, y = sub[p].to_numpy(), sub[target].to_numpy()
        row = {"proxy": p, "target": target, "n": len(sub)}
        for m in METHODS:
            row[m] = rank_corr(x, y, m)
            row[f"{m}_lo"], row[f"{m}_hi"] = rank_ci(x, y, m, n_resamples, seed)
        rows.append(row)
    return pd.DataFrame(rows)


def bootstrap_ci(df: pd.DataFrame, proxy: str, target: str, n_resamples: int, seed: int) -> tuple:
    """95% percentile-bootstrap interval of Spearman(proxy, target) over cells (``scipy.stats.bootstrap``)."""
    sub = finite_pairs(df, proxy, target)
    return rank_ci(sub[proxy].to_numpy(), sub[target].to_numpy(), "spearman", n_resamples, seed)


def top_precision(df: pd.DataFrame, proxy: str, target: str, frac: float = 0.1) -> float:
    """Share of the top-``frac`` cells by proxy that are also top-``frac`` by accuracy."""
    sub = finite_pairs(df, proxy, target)
    k = max(1, round(frac * len(sub)))
    top_p = set(sub[proxy].nlargest(k).index)
    top_t = set(sub[target].nlargest(k).index)
    return len(top_p & top_t) / k


def basic_interval(point: float, q_lo: float, q_hi: float) -> tuple[float, float]:
    """The *basic* (reverse-percentile) bootstrap interval ``(2 point - q_hi, 2 point - q_lo)`` from the
    bootstrap quantiles ``q_lo``, ``q_hi`` (Davison & Hinkley 1997, eq. 5.6).

    Used for COCO AP over image resamples: AP is not a smooth mean, and resampling with replacement biases it
    upward (on CIFAR-10 Scenes the whole percentile interval lay *above* the point estimate), which the basic
    interval corrects to first order, where the percentile interval would not."""
    return 2 * point - q_hi, 2 * point - q_lo


def ratio_of_medians(num, den, n_resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple:
    """median(num) / median(den) and its percentile-bootstrap interval (the two samples resampled independently:
    repeated timings of two code paths). Returns ``(ratio, lo, hi)``; one repeat each gives ``lo = hi = ratio``."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("ratio_of_medians needs at least one timing in each sample")
    if np.any(b <= 0) or np.any(a < 0):
        raise ValueError("timings must be positive seconds")
    ratio = float(np.median(a) / np.median(b))
    rng = np.random.default_rng(seed)
    ra = np.median(rng.choice(a, size=(n_resamples, a.size)), axis=1)
    rb = np.median(rng.choice(b, size=(n_resamples, b.size)), axis=1)
    lo, hi = np.quantile(ra / rb, [(1 - level) / 2, (1 + level) / 2])
    return ratio, float(lo), float(hi)


def rank_aggregate(df: pd.DataFrame, members) -> pd.Series:
    """Mean rank percentile of the columns ``members`` (each oriented higher = predicted better): the unweighted
    rank-aggregation of several proxies (Abdelfattah et al.'s vote and NAS-Bench-Suite-Zero's combinations use the
    same idea). ``-inf``/``+inf`` rank lowest/highest; NaN ranks lowest."""
    missing = [m for m in members if m not in df.columns]
    if len(members) < 2 or missing:
        raise ValueError(f"rank_aggregate needs >= 2 columns of the table; missing: {missing or 'none'}, "
                         f"members: {list(members)}")
    ranks = [df[m].astype(float).rank(pct=True, na_option="bottom") for m in members]
    return sum(ranks) / len(ranks)
