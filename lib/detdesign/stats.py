"""Statistics shared by the studies: rank correlations and their bootstrap intervals, the paired bootstrap over
test images, intervals that include seed variance, pooled seed noise and the power helpers.

Intervals of a compared difference (:func:`difference`, the input of the ledger's schedule-robustness rule):

- with >= :data:`HIERARCHICAL_MIN_SEEDS` seeds, a **hierarchical bootstrap** (:func:`hierarchical_interval`):
  resample the seeds with replacement, then one test-image resample, and average the per-seed differences;
- below that, ``diff +- z sqrt(2 sigma_seed^2 / n + SE_image^2)`` (:func:`seed_aware_interval`) with
  ``sigma_seed`` the pooled seed SD of the instrument (:mod:`detdesign.seed_noise`, from the project's own
  seed pairs) and ``SE_image`` the per-seed image-bootstrap SE (not shrunk by averaging seeds: the seeds share
  one test set).

Power (:func:`seeds_for_power`, :func:`units_for_power`, :func:`kendall_networks_for_power`): the size at which a
two-sided 95% test detects the pilot's effect with 80% probability, ``|effect| = (z_0.975 + z_0.8) SE(n)``.
"""

from __future__ import annotations

import math

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


# -- paired differences that include seed variance ----------------------------------------------------------------
HIERARCHICAL_MIN_SEEDS = 4  # from this many seeds the seeds themselves are resampled
Z95 = float(stats.norm.ppf(0.975))


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    return float(stats.norm.ppf(0.5 + level / 2))


def seed_aware_interval(diff: float, se_image: float, sigma_seed: float, n_seeds: int,
                        level: float = 0.95, contrast: float = 2.0) -> tuple[float, float]:
    """``diff +- z sqrt(2 sigma_seed^2 / n + se_image^2)``: the interval of a difference of two models' means over
    ``n_seeds`` seeds each (seed SD ``sigma_seed`` per model) measured on one test set (image SE ``se_image``).
    ``contrast``: the sum of squared weights of the models in the difference (2 for A - B, 6 for the second
    difference A - 2B + C). An unknown ``sigma_seed`` (NaN) gives ``(-inf, inf)``: nothing can be decided."""
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n_seeds}")
    if not (math.isfinite(se_image) and se_image >= 0):
        raise ValueError(f"se_image must be a finite SE >= 0, got {se_image!r}")
    if not math.isfinite(sigma_seed):
        return -math.inf, math.inf
    half = _z(level) * math.sqrt(contrast * sigma_seed ** 2 / n_seeds + se_image ** 2)
    return diff - half, diff + half


def hierarchical_interval(boot, n_resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean difference from ``boot`` [seeds, image resamples] (each seed's difference on
    each test-image resample): every replicate draws the seeds with replacement and one image resample."""
    b = np.asarray(boot, dtype=float)
    if b.ndim != 2 or b.shape[0] < 2 or b.shape[1] < 2:
        raise ValueError(f"boot must be [seeds >= 2, resamples >= 2], got shape {b.shape}")
    rng = np.random.default_rng(seed)
    s = rng.integers(0, b.shape[0], size=(n_resamples, b.shape[0]))
    r = rng.integers(0, b.shape[1], size=n_resamples)
    reps = b[s, r[:, None]].mean(axis=1)
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def difference(per_seed, boot, sigma_seed: float = float("nan"), schedule: float = 1.0, seed: int = 0,
               level: float = 0.95, contrast: float = 2.0):
    """A :class:`~detdesign.claims.rules.Difference` from each seed's point difference (``per_seed`` [seeds]) and
    its differences on test-image resamples (``boot`` [seeds, resamples]): the hierarchical bootstrap with
    >= :data:`HIERARCHICAL_MIN_SEEDS` seeds, else :func:`seed_aware_interval` with the pooled ``sigma_seed``."""
    from detdesign.claims.rules import Difference

    d = np.asarray(per_seed, dtype=float)
    b = np.asarray(boot, dtype=float)
    if d.ndim != 1 or len(d) < 1 or b.shape[0] != len(d) or not np.isfinite(d).all():
        raise ValueError(f"need one finite point difference per seed and boot [seeds, resamples]; got {d.shape} "
                         f"and {b.shape}")
    point = float(d.mean())
    se = float(np.sqrt(np.mean(np.var(b, axis=1, ddof=1)))) if b.ndim == 2 and b.shape[1] > 1 else 0.0
    if len(d) >= HIERARCHICAL_MIN_SEEDS:
        lo, hi = hierarchical_interval(b, seed=seed, level=level)
        method = f"hierarchical bootstrap over {len(d)} seeds and test images"
    else:
        lo, hi = seed_aware_interval(point, se, sigma_seed, len(d), level, contrast)
        method = (f"image SE {se:.4f} and pooled seed SD {sigma_seed:.4f} over {len(d)} seed(s)"
                  if math.isfinite(sigma_seed) else "seed SD unknown: interval unbounded")
    return Difference(point, lo, hi, len(d), schedule, method, tuple(float(v) for v in d), se)


def difference_from_intervals(diffs, los, his, sigma_seed: float = float("nan"), schedule: float = 1.0,
                              level: float = 0.95):
    """A seed-aware :class:`~detdesign.claims.rules.Difference` from per-seed differences with 95% image intervals
    only (no stored resamples): ``SE_image = sqrt(mean((hi - lo) / 3.92)^2)`` and :func:`seed_aware_interval`."""
    from detdesign.claims.rules import Difference

    d, lo, hi = (np.asarray(v, dtype=float) for v in (diffs, los, his))
    if not (d.shape == lo.shape == hi.shape) or d.ndim != 1 or not len(d) or not np.isfinite(d).all():
        raise ValueError(f"need one finite difference and interval per seed, got {d}, {lo}, {hi}")
    se = float(np.sqrt(np.mean(((hi - lo) / (2 * Z95)) ** 2)))
    a, b = seed_aware_interval(float(d.mean()), se, sigma_seed, len(d), level)
    method = (f"image SE {se:.4f} and pooled seed SD {sigma_seed:.4f} over {len(d)} seed(s)"
              if math.isfinite(sigma_seed) else "seed SD unknown: interval unbounded")
    return Difference(float(d.mean()), a, b, len(d), schedule, method, tuple(float(v) for v in d), se)


def paired_bootstrap(correct_a, correct_b, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy differences A - B from correctness matrices [seeds, images] (seed i of A paired with seed i of B):
    each seed's difference on the full test set [seeds] and on ``n_resamples`` test-image resamples, the same
    resamples for every seed [seeds, resamples]."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"correctness matrices must both be [seeds, images], got {a.shape} and {b.shape}")
    d = a - b
    idx = np.random.default_rng(seed).integers(0, d.shape[1], size=(n_resamples, d.shape[1]))
    return d.mean(axis=1), np.stack([d[:, i].mean(axis=1) for i in idx], axis=1)


def pooled_sd(groups) -> tuple[float, int]:
    """Pooled within-group SD ``sqrt(sum_g sum_i (x_gi - mean_g)^2 / sum_g (n_g - 1))`` and its degrees of freedom;
    groups of one value add nothing; ``(nan, 0)`` without a group of two."""
    ss, dof = 0.0, 0
    for g in groups:
        x = np.asarray(g, dtype=float)
        x = x[np.isfinite(x)]
        if len(x) >= 2:
            ss += float(((x - x.mean()) ** 2).sum())
            dof += len(x) - 1
    return (math.sqrt(ss / dof), dof) if dof else (float("nan"), 0)


def partial_kendall(x, y, z) -> float:
    """Kendall's partial tau of ``x`` and ``y`` given ``z``: ``(t_xy - t_xz t_yz) / sqrt((1 - t_xz^2)(1 - t_yz^2))``
    (Kendall 1942); NaN when ``z`` ranks like ``x`` or ``y`` perfectly."""
    txy, txz, tyz = (rank_corr(a, b, "kendall") for a, b in ((x, y), (x, z), (y, z)))
    den = math.sqrt(max((1 - txz ** 2) * (1 - tyz ** 2), 0.0))
    return (txy - txz * tyz) / den if den > 0 else math.nan


# -- power --------------------------------------------------------------------------------------------------------
def _k(power: float, level: float) -> float:
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power!r}")
    return _z(level) + float(stats.norm.ppf(power))


def seeds_for_power(effect: float, sigma_seed: float, se_image: float = 0.0, contrast: float = 2.0,
                    power: float = 0.8, level: float = 0.95) -> float:
    """Seeds per model for ``power`` at a two-sided ``level`` test of a contrast of model means whose variance is
    ``contrast sigma_seed^2 / n + se_image^2`` (``contrast`` = sum of squared weights: 2 for A - B, 6 for the second
    difference A - 2B + C). ``inf`` when the image noise alone hides the effect; at least 2."""
    if not all(math.isfinite(v) for v in (effect, sigma_seed, se_image)) or sigma_seed < 0 or se_image < 0:
        raise ValueError(f"need finite effect and noise >= 0, got {effect}, {sigma_seed}, {se_image}")
    room = (abs(effect) / _k(power, level)) ** 2 - se_image ** 2
    if room <= 0:
        return math.inf
    return float(max(2, math.ceil(contrast * sigma_seed ** 2 / room)))


def units_for_power(effect: float, se: float, have: int, power: float = 0.8, level: float = 0.95) -> float:
    """Units (networks, seeds) for ``power`` when the SE measured with ``have`` units shrinks as ``1 / sqrt(n)``:
    ``have (k se / effect)^2``, with ``k = z_(1+level)/2 + z_power``; ``inf`` for a zero effect."""
    if have < 1 or not (math.isfinite(se) and se >= 0 and math.isfinite(effect)):
        raise ValueError(f"need have >= 1 and finite effect and SE >= 0, got {effect}, {se}, {have}")
    if effect == 0:
        return math.inf
    return float(max(have if se == 0 else 2, math.ceil(have * (_k(power, level) * se / abs(effect)) ** 2)))


def kendall_networks_for_power(tau: float, power: float = 0.8, level: float = 0.95, n_max: int = 100_000) -> float:
    """Networks for ``power`` to find Kendall's ``tau`` != 0 with the null variance ``2 (2n + 5) / (9 n (n - 1))``
    (no ties; measurement noise, which attenuates tau, is in the pilot's ``tau``); ``inf`` beyond ``n_max``."""
    if not math.isfinite(tau):
        raise ValueError(f"tau must be finite, got {tau!r}")
    k = _k(power, level)
    for n in range(4, n_max + 1):
        if abs(tau) >= k * math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1))):
            return float(n)
    return math.inf
