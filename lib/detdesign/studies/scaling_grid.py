"""Notebook ``04_compound_scaling``, part 4: EfficientNet's compound-scaling claims on a grid that can decide.

The paper (EfficientNet §3.2-3.3, Fig. 3-4): scaling one dimension (depth ``d``, width ``w``, resolution ``r``)
helps but saturates, and scaling all three with ``d = alpha^phi, w = beta^phi, r = gamma^phi`` (Eq. 3,
``alpha beta^2 gamma^2 ~ 2``) is more accurate *at the same FLOPs*. The design (:mod:`detdesign.scaling.matched_grid`):

- a 16-px base (CIFAR-10 downsampled, antialiased), so the resolution axis to 23 and 32 px adds real pixels;
- every axis FLOPs-matched the same way (the realised network nearest to ``2^k`` x the base's MACs, within +-5%
  or flagged), with the realised depth, width and input reported per point;
- (alpha, beta, gamma) candidates along the phi = 1 constraint, each matched to 2x the base, trained like the
  grid; the best one (mean over seeds) is the "searched" rule and is scaled to every step next to the paper's;
- every point trained with the same recipe and the same seeds (paired), a validation curve per training (a
  diagnostic) and the full test set; the points that define the claims (base, each axis at each step, the paper's
  compound rule) trained again at the doubled schedule 2S (:func:`doubled`).

Verdicts (:func:`claims`, rules of :mod:`detdesign.claims`): every compared difference is a seed-aware
:class:`~detdesign.claims.Difference` (paired test-image resamples, pooled seed SD of the grid's seeds) at S and 2S,
decided by the schedule-robustness rule. ``compound wins`` at a step when compound's accuracy minus the single-axis
frontier (each axis interpolated linearly in log-MACs at the compound's MACs, the best axis taken) is above 0;
``saturates`` for an axis when its first gain is above 0 and the shrink (first minus second gain, a second
difference) is above 0. A claim that cannot decide at an affordable number of seeds is ``descriptive``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from detdesign.claims import (
    Claim,
    Decision,
    Difference,
    Precondition,
    combine_decisions,
    decide_difference,
    decide_equivalence,
)
from detdesign.claims.power import seed_gate
from detdesign.classification import (
    TRAIN_FIELDS,
    CifarRecipe,
    ClassifierJob,
    accuracy_resamples,
    correct_matrix,
    seed_accuracy_resamples,
    train_test,
)
from detdesign.data.cifar import cifar_splits
from detdesign.profiles import GridSizes
from detdesign.scaling import Compound
from detdesign.scaling.matched_grid import SINGLE, frontier, frontier_weights, network
from detdesign.scaling.points import candidate_points, points, searched_points, union  # noqa: F401 (notebook 04)
from detdesign.seed_noise import CIFAR_GRID_TOP1
from detdesign.stats import difference
from detdesign.training import curves as long_curves


def cifar(S: GridSizes, seed: int) -> dict:
    """Train / validation / test tensors at 32 px (each network resizes to its own input, antialiased)."""
    return cifar_splits(S.train_per_class, S.val_per_class, S.test_per_class, seed)


def doubled(S: GridSizes) -> GridSizes:
    """The grid's sizes with twice the epochs (the doubled schedule 2S of the schedule-robustness rule)."""
    return replace(S, epochs=2 * S.epochs)


def train(run, pts: pd.DataFrame, data: dict, S: GridSizes) -> pd.DataFrame:
    """Every point of ``pts`` trained with every seed of ``S.seeds`` through ``run.map``, cached in
    ``04_grid`` by network, input size, seed and recipe (a point shared by two tables is trained once)."""
    # r["size"], not r.size: on a pandas row ``.size`` is the number of columns (it trained every point at 14 px)
    jobs = [ClassifierJob("grid-train", label, r["config"], seed, CifarRecipe.of(S), int(r["size"]))
            for label, r in pts.iterrows() for seed in S.seeds]
    rows = run.map(train_test, jobs, key=lambda j: j.key(), cache=run.cache("04_grid", fields=TRAIN_FIELDS),
                   shared={"data": data, "build": network}, desc="grid trainings")
    return pd.DataFrame([{"label": j.label, "seed": j.seed, **r} for j, r in zip(jobs, rows)])


def seed_noise(run, trained: pd.DataFrame, factor: int = 1) -> float:
    """Add every grid point's seeds to the seed-noise table (CIFAR-10 top-1, the grid's recipe at ``factor`` x S)
    and return the pooled seed SD of that instrument."""
    inst = CIFAR_GRID_TOP1 if factor == 1 else f"{CIFAR_GRID_TOP1} at {factor}S"
    return run.seed_noise.add(inst, trained, "label", "test_acc", "04_compound_scaling")


@dataclass(frozen=True)
class GridAnalysis:
    """Everything the grid's figures and claims read: the seed-averaged resample table ``boot``, the point table
    ``tab``, compound - frontier and the saturation contrasts at S and 2S (``comps``, ``sats``), the candidates'
    table ``abg`` (and ``abg2`` at 2S when the candidates were trained there), the pooled seed SD at S and the
    hours of one training at S."""

    boot: pd.DataFrame
    tab: pd.DataFrame
    comps: list
    sats: list
    abg: pd.DataFrame
    sigma: float
    train_h: float
    abg2: pd.DataFrame | None = None


def analyse(run, everything: pd.DataFrame, pts: pd.DataFrame, cands: pd.DataFrame, trained: pd.DataFrame,
            doubled_rows: pd.DataFrame, n_test: int, S: GridSizes) -> GridAnalysis:
    """The grid at S (every point) and at 2S (``doubled_rows``: the points ``pts`` that define the comparison, and
    the (alpha, beta, gamma) candidates when trained there), each with its seeds' pooled noise; one resample draw
    for every seed, point and schedule (paired)."""
    sigma, sigma2 = seed_noise(run, trained), seed_noise(run, doubled_rows, 2)
    boots = seed_accuracy_resamples(correct_matrix(trained, n_test), S.bootstrap, run.seed)
    boots2 = seed_accuracy_resamples(correct_matrix(doubled_rows, n_test), S.bootstrap, run.seed)
    boot = accuracy_resamples(correct_matrix(trained, n_test), S.bootstrap, run.seed)
    tab = table(everything, trained, boot).join(everything["paper_rule"])
    comps = [compound_vs_frontier(everything, boots, sigma, 0.05), compound_vs_frontier(pts, boots2, sigma2, 0.05, 2)]
    sats = [saturation(everything, boots, sigma), saturation(pts, boots2, sigma2, 2)]
    abg2 = abg_table(cands, boots2, sigma2, 2.0) if set(cands.index) <= set(doubled_rows["label"]) else None
    return GridAnalysis(boot, tab, comps, sats, abg_table(cands, boots, sigma), sigma,
                        float(trained["train_seconds"].mean()) / 3600, abg2)


def best_candidate(trained: pd.DataFrame, cands: pd.DataFrame) -> Compound:
    """The candidate rule with the highest test accuracy averaged over seeds (the "searched" coefficients)."""
    mean = trained[trained["label"].isin(cands.index)].groupby("label")["test_acc"].mean()
    return Compound(*cands.loc[mean.idxmax(), "compound"])


def _q(x) -> tuple[float, float]:
    return float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))


def _difference(boots: dict[int, pd.DataFrame], contrast_fn, sigma: float, schedule: float, contrast: float = 2.0):
    """A :class:`~detdesign.claims.rules.Difference` of ``contrast_fn(acc)`` (a contrast of points, one value per
    row of a seed's resample table): per seed on the full test set and its resamples, seed noise ``sigma``."""
    seeds = sorted(boots)
    vals = np.stack([np.asarray(contrast_fn(boots[s]), dtype=float) for s in seeds])  # [seeds, 1 + resamples]
    return difference(vals[:, 0], vals[:, 1:], sigma, schedule, contrast=contrast)


def compound_vs_frontier(pts: pd.DataFrame, boots: dict[int, pd.DataFrame], sigma: float, tol: float,
                         schedule: float = 1.0) -> pd.DataFrame:
    """For every compound point of ``pts``: accuracy minus the single-axis frontier at its MACs (each axis
    interpolated in log-MACs, the best axis re-taken in each resample and seed) as a seed-aware Difference."""
    rows = []
    for label in pts.index[pts["axis"] == "compound"]:
        w = frontier_weights(pts, label, tol)
        mean = sum(boots.values()) / len(boots)
        front = frontier(mean.iloc[:1], w)
        d = _difference(boots, lambda acc, w=w, label=label: acc[label] - frontier(acc, w).max(axis=1), sigma,
                        schedule)
        rows.append({"label": label, "k": pts.loc[label, "k"], "paper_rule": bool(pts.loc[label, "paper_rule"]),
                     "macs_ratio": pts.loc[label, "macs_ratio"], "within": bool(pts.loc[label, "within"]),
                     "frontier_best": front.iloc[0].idxmax(), "frontier": float(front.iloc[0].max()),
                     "diff": d.diff, "lo": d.lo, "hi": d.hi, "seed_diffs": list(d.per_seed), "d": d})
    return pd.DataFrame(rows).set_index("label")


def saturation(pts: pd.DataFrame, boots: dict[int, pd.DataFrame], sigma: float, schedule: float = 1.0) -> pd.DataFrame:
    """Per single axis: the first gain (k1 - base), the second (k2 - k1) and the shrink (first - second, the second
    difference k1 - base - (k2 - k1), contrast weights (-1, 2, -1)) as seed-aware Differences."""
    rows = []
    for axis in SINGLE:
        chain = ["base", *pts.index[pts["axis"] == axis].tolist()]
        if len(chain) < 3:
            rows.append({"axis": axis, "gain1": np.nan})
            continue
        b, k1, k2 = chain[:3]
        g1 = _difference(boots, lambda a, b=b, k1=k1: a[k1] - a[b], sigma, schedule)
        g2 = _difference(boots, lambda a, k1=k1, k2=k2: a[k2] - a[k1], sigma, schedule)
        sh = _difference(boots, lambda a, b=b, k1=k1, k2=k2: 2 * a[k1] - a[b] - a[k2], sigma, schedule, contrast=6.0)
        rows.append({"axis": axis, "gain1": g1.diff, "gain1_lo": g1.lo, "gain1_hi": g1.hi, "gain2": g2.diff,
                     "gain2_lo": g2.lo, "gain2_hi": g2.hi, "shrink": sh.diff, "shrink_lo": sh.lo, "shrink_hi": sh.hi,
                     "d_gain1": g1, "d_shrink": sh})
    return pd.DataFrame(rows).set_index("axis")


def table(pts: pd.DataFrame, trained: pd.DataFrame, boot: pd.DataFrame) -> pd.DataFrame:
    """One row per point: realised network, MACs ratio, accuracy (mean over seeds) with its interval, per seed,
    and whether every training of it converged."""
    per_seed = trained.pivot(index="label", columns="seed", values="test_acc")
    per_seed.columns = [f"acc seed {s}" for s in per_seed.columns]
    lo_hi = boot.iloc[1:].quantile([0.025, 0.975]).T.set_axis(["acc_lo", "acc_hi"], axis=1)
    out = pts[["axis", "k", "blocks", "channels", "size", "macs", "macs_ratio", "within"]].join(
        boot.iloc[0].rename("acc")).join(lo_hi).join(per_seed)
    return out.join(trained.groupby("label")["converged"].all().rename("all converged"))


def _pick(pts, axis):
    return pts[pts["axis"] == axis].sort_values("macs")


def figure(tab: pd.DataFrame):
    """Accuracy vs MACs (log2 of the ratio to the base) with intervals: one line per single axis from the base,
    the compound points (paper's rule, searched rule) and the phi = 1 candidates."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    base = tab[tab["axis"] == "base"]
    for axis, m in zip(SINGLE, "osD"):
        sub = pd.concat([base, _pick(tab, axis)])
        ax.errorbar(np.log2(sub["macs_ratio"]), 100 * sub["acc"], fmt=f"-{m}", capsize=3, label=axis,
                    yerr=[100 * (sub["acc"] - sub["acc_lo"]), 100 * (sub["acc_hi"] - sub["acc"])])
    comp = tab[tab["axis"] == "compound"]
    for lab, r in comp.iterrows():
        ax.errorbar(np.log2(r["macs_ratio"]), 100 * r["acc"], yerr=[[100 * (r["acc"] - r["acc_lo"])],
                    [100 * (r["acc_hi"] - r["acc"])]], fmt="*" if r.get("paper_rule", False) else "P", ms=11,
                    capsize=3, label=lab, zorder=5)
    ax.set(xlabel="log2(MACs / base MACs)", ylabel="CIFAR-10 test accuracy, %",
           title="FLOPs-matched scaling: single axes vs compound")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def curves_figure(trained: pd.DataFrame):
    """Validation accuracy per epoch of every training (the curves stored with each row), one panel per seed."""
    cv = long_curves(trained, ("label", "seed"))
    seeds = sorted(cv["seed"].unique())
    fig, axes = plt.subplots(1, len(seeds), figsize=(4.2 * len(seeds), 3.4), squeeze=False, sharey=True)
    for ax, s in zip(axes[0], seeds):
        for lab, g in cv[cv["seed"] == s].groupby("label", sort=False):
            ax.plot(g["epoch"], g["acc"], lw=1, label=lab)
        ax.set(title=f"seed {s}", xlabel="epoch")
    axes[0][0].set_ylabel("validation accuracy")
    axes[0][-1].legend(fontsize=6, ncol=1, loc="lower right")
    fig.tight_layout()
    return fig


def _rungs(tables: list[pd.DataFrame], label, col: str = "d") -> list[Difference]:
    """The Differences of ``label`` in the tables measured at S, 2S, ... (a table lacking it is skipped)."""
    return [t.loc[label, col] for t in tables if label in t.index and isinstance(t.loc[label, col], Difference)]


def rung_table(a: GridAnalysis) -> pd.DataFrame:
    """The compared differences at every schedule measured: compound (paper's rule) - frontier per step, the
    first gain and the shrink per axis, and the paper's rule - each (alpha, beta, gamma) candidate (S only)."""
    rows = []
    for t in a.comps:
        for _, r in t[t["paper_rule"]].iterrows():
            rows.append({"contrast": f"compound - frontier, k={r.k:g}", "d": r["d"]})
    for t in a.sats:
        for axis, r in t[t["gain1"].notna()].iterrows():
            rows += [{"contrast": f"{axis}: first gain", "d": r["d_gain1"]},
                     {"contrast": f"{axis}: first - second gain", "d": r["d_shrink"]}]
    for lab, r in a.abg[~a.abg["paper_rule"]].iterrows():
        rows.append({"contrast": f"paper's rule - {lab}", "d": r["d"]})
    return pd.DataFrame([{"contrast": r["contrast"], "schedule": f"{r['d'].schedule:g}S", "diff": r["d"].diff,
                          "lo": r["d"].lo, "hi": r["d"].hi, "per seed": r["d"].seeds_text()} for r in rows])


def _gate(dec, d, sigma: float, n_points: int, train_h: float, hours: float, contrast: float = 2.0):
    """The power gate (:func:`~detdesign.claims.power.seed_gate`): each seed costs ``n_points`` trainings at S
    and 2S (3 ``train_h``)."""
    return seed_gate(dec, d, sigma, 3 * n_points * train_h, hours, contrast=contrast)


def claims(a: GridAnalysis, S: GridSizes, hours: float) -> list[Claim]:
    """Ledger rows: single-axis saturation, compound vs the single-axis frontier, the paper's coefficients, from
    :func:`analyse` (its S and 2S tables are the rungs of the schedule-robustness rule); ``hours``: the profile's
    budget of one undecided claim."""
    tab, comps, sats, abg, sigma, train_h = a.tab, a.comps, a.sats, a.abg, a.sigma, a.train_h
    seeds = Precondition.check("paired seeds per point", float(len(S.seeds)), ">=", 2.0, "{:.0f}")
    learned = Precondition.check("lowest accuracy (>= 2x chance)", float(tab["acc"].min()), ">=", 0.2, "{:.3f}")
    pre = (seeds, learned)
    sat = sats[0]
    axes = []
    for axis in sat.index[sat["gain1"].notna()]:
        gain = decide_difference(_rungs(sats, axis, "d_gain1"), scale=100)
        shrink = _gate(decide_difference(_rungs(sats, axis, "d_shrink"), scale=100), sat.loc[axis, "d_shrink"],
                       sigma, 3, train_h, hours, contrast=6.0)
        axes.append(combine_decisions([gain, shrink], need_all=True))
    sat_dec = combine_decisions(axes, need_all=True) if axes else Decision("not tested", "", "",
                                                                          "saturation needs two steps per axis")
    comp = comps[0]
    paper = comp[comp["paper_rule"]]
    top = tab.loc[tab["axis"].isin(SINGLE), "macs_ratio"].max() * (1 + 0.05)
    matched_pre = Precondition.check("compound points inside the single axes' MACs range (interpolated, not "
                                     "extrapolated; largest compound / largest single)",
                                     float(paper["macs_ratio"].max() / top), "<=", 1.0, "{:.2f}")
    comp_dec = combine_decisions([_gate(decide_difference(_rungs(comps, lab), scale=100), r["d"], sigma, 7, train_h,
                                        hours) for lab, r in paper.iterrows()])

    def ladder(tables, label, col="d"):
        return "; ".join(f"{d.schedule:g}S {d.text('{:+.1f}', 100)}" for d in _rungs(tables, label, col))

    rows = [
        Claim("04-single-saturates", "EfficientNet §3.2 (Fig. 3)", "scaling any single dimension helps but the gain "
              "saturates", "; ".join(f"{a}: gains {100 * r.gain1:+.1f}, {100 * r.gain2:+.1f} pts, shrink "
                                     f"{ladder(sats, a, 'd_shrink')}" for a, r in sat.iterrows() if pd.notna(r.gain1)),
              sat_dec, "yes per axis: the first gain > 0 and the shrink (first - second gain) > 0, each by the "
              "schedule-robustness rule with seed-aware intervals (pts)", preconditions=pre),
        Claim("04-compound-best", "EfficientNet §3.3 (Fig. 4)", "compound scaling is more accurate than any single "
              "dimension at equal FLOPs", "; ".join(f"k={r.k:g} ({r.macs_ratio:.2f}x): compound - frontier "
                                                    f"{ladder(comps, lab)} pts (best axis {r.frontier_best})"
                                                    for lab, r in paper.iterrows()),
              comp_dec, "frontier: best single axis, interpolated in log-MACs at the compound's MACs; intervals "
              "include seed variance (pooled seed SD of the grid)", preconditions=(*pre, matched_pre)),
    ]
    if len(abg) > 1:
        rows += _abg_rows(abg, pre, sigma, train_h, hours, a.abg2)
    return rows


ABG_MARGIN = 0.01  # 04-abg: the paper's rule within 1 point of the best other candidate counts as "as good"


def _abg_rows(abg: pd.DataFrame, pre: tuple, sigma: float, train_h: float, hours: float,
              abg2: pd.DataFrame | None = None) -> list[Claim]:
    """``04-abg`` as an equivalence claim (the paper's rule and the best other candidate realise nearly the same
    network, so "within 1 point" is what a grid search at phi = 1 can show), and ``04-abg-others``: the paper's rule
    beats every other candidate (a relative claim, schedule-robustness rule). ``abg2``: the table at 2S (the
    second rung of both rows), when the candidates were trained there."""
    from detdesign.claims.power import equivalence_gate

    p = abg[abg["paper_rule"]].iloc[0]
    others = abg[~abg["paper_rule"]]
    best = others["diff_to_paper"].idxmax()
    b = others.loc[best]

    def rungs(lab):
        return [abg.loc[lab, "d"]] + ([abg2.loc[lab, "d"]] if abg2 is not None else [])

    last = rungs(best)[-1]
    eq = equivalence_gate(decide_equivalence(rungs(best), ABG_MARGIN), last, ABG_MARGIN, sigma, 2 * 3 * train_h,
                          hours)
    rows = [Claim("04-abg", "EfficientNet §3.3", "a grid search at phi = 1 gives alpha = 1.2, beta = 1.1, gamma = "
                  "1.15 (here: no other candidate along alpha beta^2 gamma^2 = 2 is better by more than 1 point)",
                  f"paper's rule {100 * p['acc']:.1f}%, best other {best} {100 * b['acc']:.1f}% at S; paper's - best "
                  "other " + "; ".join(f"{d.schedule:g}S {d.text('{:+.2f}', 100)}" for d in rungs(best)) + " pts", eq,
                  f"{len(abg)} candidates, each matched to 2x the base MACs; equivalence: the interval (seed variance "
                  f"included) inside +-{100 * ABG_MARGIN:g} pt, robust to 2S", last.text("{:+.4f}"),
                  preconditions=pre)]
    rest = others.drop(index=best)
    if len(rest):
        decs = [_gate(decide_difference(rungs(lab), scale=100), rungs(lab)[-1], sigma, 2, train_h, hours)
                for lab in rest.index]
        rows.append(Claim("04-abg-others", "EfficientNet §3.3", "the paper's coefficients beat the other candidates "
                          "of the grid search", "; ".join(f"paper's - {lab} " + ", ".join(
                              f"{d.schedule:g}S {d.text('{:+.2f}', 100)}" for d in rungs(lab)) + " pts"
                              for lab in rest.index),
                          combine_decisions(decs, need_all=True), "every candidate but the best other (04-abg), "
                          "each a relative claim decided by the schedule-robustness rule", preconditions=pre))
    return rows


def abg_table(cands: pd.DataFrame, boots: dict[int, pd.DataFrame], sigma: float,
              schedule: float = 1.0) -> pd.DataFrame:
    """Each candidate's accuracy (mean over seeds) and the paper's rule minus it as a seed-aware Difference at
    ``schedule`` (x S)."""
    paper = cands.index[cands["paper_rule"]][0]
    mean = sum(boots.values()) / len(boots)
    rows = []
    for lab, r in cands.iterrows():
        d = None if lab == paper else _difference(boots, lambda a, lab=lab: a[paper] - a[lab], sigma, schedule)
        rows.append({"label": lab, "compound": r["compound"], "paper_rule": bool(r["paper_rule"]),
                     "macs_ratio": r["macs_ratio"], "acc": float(mean[lab].iloc[0]),
                     "diff_to_paper": float(mean[lab].iloc[0] - mean[paper].iloc[0]),
                     "lo": np.nan if d is None else -d.hi, "hi": np.nan if d is None else -d.lo, "d": d})
    return pd.DataFrame(rows).set_index("label")


def findings(a: GridAnalysis, S: GridSizes) -> str:
    """The grid's closing paragraph with this run's numbers (markdown)."""
    tab, abg = a.tab, a.abg
    acc = ", ".join(f"{lab} {100 * r.acc:.1f}% ({r.macs_ratio:.2f}x)" for lab, r in tab.sort_values("macs").iterrows())
    paper = a.comps[0][a.comps[0]["paper_rule"]]
    cmp = "; ".join(f"k={r.k:g}: " + ", ".join(f"{d.schedule:g}S {d.text('{:+.1f}', 100)}"
                                               for d in _rungs(a.comps, lab)) for lab, r in paper.iterrows())
    sat_txt = "; ".join(f"{axis} " + ", ".join(f"{d.schedule:g}S {d.text('{:+.1f}', 100)}"
                                               for d in _rungs(a.sats, axis, "d_shrink"))
                        for axis, r in a.sats[0].iterrows() if pd.notna(r.gain1))
    test = "all 10,000" if S.test_per_class is None else f"{10 * S.test_per_class:,}"
    return (f"**Grid ({len(S.seeds)} seed(s), {10 * S.train_per_class:,} training images, S = {S.epochs} epochs, "
            f"{test} test images; intervals include seed variance, pooled seed SD {100 * a.sigma:.2f} pts).** "
            f"Accuracy at S (mean over seeds) and MACs ratio: {acc}. Compound (paper's rule) minus the single-axis "
            f"frontier, pts: {cmp}. Saturation, first minus second gain, pts: {sat_txt}. (alpha, beta, gamma) "
            "candidates at 2x: " + ", ".join(f"{lab} {100 * r.acc:.1f}%" for lab, r in abg.iterrows()) + ".")
