"""Notebook ``04_compound_scaling``, part 4: EfficientNet's compound-scaling claims on a grid that can decide.

The paper (EfficientNet §3.2-3.3, Fig. 3-4): scaling one dimension (depth ``d``, width ``w``, resolution ``r``)
helps but saturates, and scaling all three with ``d = alpha^phi, w = beta^phi, r = gamma^phi`` (Eq. 3,
``alpha beta^2 gamma^2 ~ 2``) is more accurate *at the same FLOPs*. The design (:mod:`detdesign.scaling.matched_grid`):

- a 16-px base (CIFAR-10 downsampled, antialiased), so the resolution axis to 23 and 32 px adds real pixels;
- every axis FLOPs-matched the same way (the realised network nearest to ``2^k`` x the base's MACs, within +-5%
  or flagged), with the realised depth, width and input reported per point;
- (alpha, beta, gamma) candidates along the phi = 1 constraint, each matched to 2x the base, trained like the
  grid; the best one (mean over seeds) is the "searched" rule and is scaled to every step next to the paper's;
- every point trained with the same recipe and the same seeds (paired), a validation curve per training (the
  convergence precondition) and the full test set; intervals from one paired bootstrap over test images.

Verdict rules (:func:`claims`): ``compound wins`` at a step when compound's accuracy minus the single-axis Pareto
frontier (each single axis interpolated linearly in log-MACs at the compound's MACs, the best axis taken)
has a bootstrap interval above 0 *and* every seed's own difference is above 0; ``no`` for the mirror image;
else ``inconclusive``.
``saturates`` for an axis when its first gain is positive (interval above 0), its second gain is not negative
(interval reaches 0 or above) and the gains shrink (interval of first minus second gain above 0).
"""

from __future__ import annotations

import io
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from detdesign.arch.efficientnet import round_filters, round_repeats
from detdesign.claims import Claim, Precondition, interval, paired_outcome
from detdesign.classification import ClassifierTrainConfig, fit_classifier, pack_correct, predict, unpack_correct
from detdesign.data.cifar import cifar_splits
from detdesign.profiles import GridSizes
from detdesign.results import content_key
from detdesign.scaling import PAPER, Compound, grid
from detdesign.scaling.matched_grid import GridSpec, grid_points, matched, network

TRAIN_FIELDS = ("test_acc", "correct", "curve", "converged", "gain", "train_seconds")
SINGLE = ("width", "depth", "resolution")


def spec(S: GridSizes) -> GridSpec:
    """The grid of this profile: the 16-px base, steps ``S.steps``, the paper's compound rule, +-5% matching."""
    return GridSpec(steps=tuple(float(k) for k in S.steps))


def cifar(S: GridSizes, seed: int) -> dict:
    """Train / validation / test tensors at 32 px (each network resizes to its own input, antialiased)."""
    return cifar_splits(S.train_per_class, S.val_per_class, S.test_per_class, seed)


def _label(row) -> str:
    if row["axis"] == "compound":
        a, b, g = row["compound"]
        return f"compound ({a:.2f}, {b:.2f}, {g:.2f}) k={row['k']:g}"
    return "base" if row["axis"] == "base" else f"{row['axis']} k={row['k']:g}"


def _with_labels(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["label"] = [_label(r) for _, r in df.iterrows()]
    df["paper_rule"] = [r["compound"] == PAPER for _, r in df.iterrows()]
    return df.drop_duplicates("label").set_index("label")


def points(S: GridSizes) -> pd.DataFrame:
    """The base, every single axis at every step and the paper's compound rule at every step (one row each:
    realised blocks, last-stage channels, input size, MACs ratio to the base and whether it is within +-5%)."""
    return _with_labels(grid_points(spec(S)))


def abg_rules() -> pd.DataFrame:
    """The phi = 1 constraint set of the paper's grid search: (alpha, beta, gamma) on a 0.1 grid with
    ``alpha beta^2 gamma^2 = 2 +- 0.1`` and at least two of them above 1 (the single axes are in the grid already)."""
    g = grid(step=0.1, tolerance=0.1)
    return g[(g[["alpha", "beta", "gamma"]] > 1.0).sum(axis=1) >= 2].reset_index(drop=True)


def _realised(row) -> tuple:
    cfg = row["config"]
    return (tuple(round_repeats(st.repeats, cfg.depth) for st in cfg.stages),
            tuple(round_filters(st.out_channels, cfg.width) for st in cfg.stages), int(row["size"]))


def candidate_points(S: GridSizes) -> pd.DataFrame:
    """The (alpha, beta, gamma) candidates at 2x the base MACs: every rule of :func:`abg_rules` matched (phi
    searched so the realised MACs are nearest 2x), rules that realise the *same network* merged (ceil-rounded
    repeats, 8-channel widths and integer inputs make many rules coincide on a small base; ``rules`` lists them),
    points outside +-5% dropped; then the paper's network and ``S.abg_points`` others spread evenly by alpha."""
    sp = spec(S)
    rules = pd.concat([pd.DataFrame([dict(zip(("alpha", "beta", "gamma"), PAPER))]), abg_rules()])
    found: dict[tuple, dict] = {}
    for r in rules.drop_duplicates(["alpha", "beta", "gamma"]).itertuples():
        m = matched(sp, "compound", 1.0, Compound(r.alpha, r.beta, r.gamma))
        if m["within"]:
            found.setdefault(_realised(m), {**m, "rules": []})["rules"].append((r.alpha, r.beta, r.gamma))
    nets = list(found.values())  # the paper's network first (its rule was matched first)
    others = nets[1:]
    n = min(S.abg_points, len(others))
    picks = [others[round(i * (len(others) - 1) / max(1, n - 1))] for i in range(n)] if n > 1 else others[:n]
    return _with_labels(pd.DataFrame([nets[0], *picks]))


def searched_points(S: GridSizes, best: Compound) -> pd.DataFrame:
    """The searched rule ``best`` scaled to every step of the grid (matched like every other point)."""
    sp = replace(spec(S), compounds=(best,))
    return _with_labels(pd.DataFrame([matched(sp, "compound", float(k), best) for k in sp.steps]))


def union(*tables: pd.DataFrame) -> pd.DataFrame:
    """The points of several tables, each label once (the first table's row wins)."""
    out = pd.concat(tables)
    return out[~out.index.duplicated(keep="first")]


def _recipe(S: GridSizes) -> tuple:
    return (S.train_per_class, S.val_per_class, S.test_per_class, S.epochs, S.batch_size, S.lr, S.warmup_iters)


def _train(item: tuple, data: dict, S: GridSizes) -> dict:
    label, cfg, size, seed = item
    torch.manual_seed(seed)
    net = network(cfg)
    tcfg = ClassifierTrainConfig(epochs=S.epochs, batch_size=S.batch_size, lr=S.lr, seed=seed,
                                 warmup_iters=S.warmup_iters, input_size=size)
    f = fit_classifier(net, *data["train"], tcfg, val=data["val"], desc=f"{label} seed {seed}")
    xte, yte = data["test"]
    correct = (predict(net, xte, input_size=size) == yte).numpy()
    return {"test_acc": float(correct.mean()), "correct": pack_correct(correct),
            "curve": f.curve.to_json(orient="split", index=False), "converged": bool(f.convergence["converged"]),
            "gain": f.convergence["gain"], "train_seconds": f.seconds}


def train(run, pts: pd.DataFrame, data: dict, S: GridSizes) -> pd.DataFrame:
    """Every point of ``pts`` trained with every seed of ``S.seeds`` through ``run.map``, cached in
    ``04_grid`` by network, input size, seed and recipe (a point shared by two tables is trained once)."""
    # r["size"], not r.size: on a pandas row ``.size`` is the number of columns (it trained every point at 14 px)
    items = [(label, r["config"], int(r["size"]), seed) for label, r in pts.iterrows() for seed in S.seeds]
    rows = run.map(_train, items, key=lambda it: content_key("grid-train", it[1], it[2], it[3], _recipe(S)),
                   cache=run.cache("04_grid", fields=TRAIN_FIELDS), shared={"data": data, "S": S},
                   desc="grid trainings")
    return pd.DataFrame([{"label": it[0], "seed": it[3], **r} for it, r in zip(items, rows)])


def best_candidate(trained: pd.DataFrame, cands: pd.DataFrame) -> Compound:
    """The candidate rule with the highest test accuracy averaged over seeds (the "searched" coefficients)."""
    mean = trained[trained["label"].isin(cands.index)].groupby("label")["test_acc"].mean()
    return Compound(*cands.loc[mean.idxmax(), "compound"])


def curves(trained: pd.DataFrame) -> pd.DataFrame:
    """Validation curves of every training, long format (label, seed, epoch, loss, acc)."""
    return pd.concat([pd.read_json(io.StringIO(r.curve), orient="split").assign(label=r.label, seed=r.seed)
                      for r in trained.itertuples()], ignore_index=True)


def correct_matrix(trained: pd.DataFrame, n: int) -> dict[int, pd.DataFrame]:
    """Per seed, test images x points: whether each point's network classified each image correctly."""
    return {seed: pd.DataFrame({r.label: unpack_correct(r.correct, n) for r in g.itertuples()})
            for seed, g in trained.groupby("seed")}


def bootstrap(correct: dict[int, pd.DataFrame], n_resamples: int, seed: int) -> pd.DataFrame:
    """Accuracy of every point, averaged over seeds, on ``n_resamples`` test-image resamples (the same resamples for
    every point and seed: paired). Row 0 is the full test set; columns are the points."""
    labels = list(next(iter(correct.values())).columns)
    share = np.mean([c[labels].to_numpy(float) for c in correct.values()], axis=0)  # [images, points]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(share), size=(n_resamples, len(share)))
    boot = np.vstack([share.mean(0, keepdims=True), np.stack([share[i].mean(0) for i in idx])])
    return pd.DataFrame(boot, columns=labels)


def _weights(xs: np.ndarray, x: float) -> np.ndarray:
    """Weights of the points at log-MACs ``xs`` (sorted) whose sum is the linear interpolation at ``x``."""
    w = np.zeros(len(xs))
    j = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1))
    t = float(np.clip((x - xs[j - 1]) / (xs[j] - xs[j - 1]), 0.0, 1.0))
    w[j - 1], w[j] = 1 - t, t
    return w


def frontier_weights(pts: pd.DataFrame, label: str, tolerance: float) -> dict[str, pd.Series]:
    """Per single axis, the weights over its chain (base, k1, k2, ...) that interpolate its accuracy linearly in
    log-MACs at ``label``'s MACs; an axis whose largest point has less than ``label``'s MACs / (1 + tolerance)
    enters with that point (its curve is not extrapolated). The frontier is the best axis at that MACs."""
    x = np.log2(pts.loc[label, "macs_ratio"])
    out = {}
    for axis in SINGLE:
        chain = pd.concat([pts[pts["axis"] == "base"], pts[pts["axis"] == axis]]).sort_values("macs")
        xs = np.log2(chain["macs_ratio"].to_numpy())
        if len(chain) > 1:
            out[axis] = pd.Series(_weights(xs, min(x, xs[-1])), index=chain.index)
    return out


def _frontier(acc: pd.DataFrame, weights: dict[str, pd.Series]) -> pd.DataFrame:
    """[rows, axes]: each axis' interpolated accuracy for every row of ``acc`` (resamples or seeds)."""
    return pd.DataFrame({a: acc[w.index].to_numpy() @ w.to_numpy() for a, w in weights.items()}, index=acc.index)


def _q(x) -> tuple[float, float]:
    return float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))


def compound_vs_frontier(pts: pd.DataFrame, boot: pd.DataFrame, per_seed: pd.DataFrame, tol: float) -> pd.DataFrame:
    """For every compound point: accuracy minus the single-axis frontier at its MACs (each axis interpolated in
    log-MACs, the best axis re-taken in each resample), the interval, each seed's own difference and the
    verdict of the module rule."""
    rows = []
    for label in pts.index[pts["axis"] == "compound"]:
        w = frontier_weights(pts, label, tol)
        front = _frontier(boot, w)
        diff = boot[label] - front.max(axis=1)
        seed_front = _frontier(per_seed.T, w)
        seeds = (per_seed.T[label] - seed_front.max(axis=1)).tolist()
        lo, hi = _q(diff.iloc[1:])
        rows.append({"label": label, "k": pts.loc[label, "k"], "paper_rule": bool(pts.loc[label, "paper_rule"]),
                     "macs_ratio": pts.loc[label, "macs_ratio"], "within": bool(pts.loc[label, "within"]),
                     "frontier_best": front.iloc[0].idxmax(), "frontier": float(front.iloc[0].max()),
                     "diff": float(diff.iloc[0]), "lo": lo, "hi": hi, "seed_diffs": seeds,
                     "outcome": paired_outcome(lo, hi, seeds)})
    return pd.DataFrame(rows).set_index("label")


def saturation(pts: pd.DataFrame, boot: pd.DataFrame) -> pd.DataFrame:
    """Per single axis: the gains base -> k1 -> k2 with intervals and the module's saturation rule."""
    rows = []
    for axis in SINGLE:
        chain = ["base", *pts.index[pts["axis"] == axis].tolist()]
        if len(chain) < 3:
            rows.append({"axis": axis, "outcome": "inconclusive", "why": "needs two steps"})
            continue
        g1, g2 = boot[chain[1]] - boot[chain[0]], boot[chain[2]] - boot[chain[1]]
        (l1, h1), (l2, h2), (ld, hd) = _q(g1[1:]), _q(g2[1:]), _q((g1 - g2)[1:])
        if h1 < 0 or h2 < 0 or hd < 0:
            out = "no"
        elif l1 > 0 and ld > 0:
            out = "yes"
        else:
            out = "inconclusive"
        rows.append({"axis": axis, "gain1": g1.iloc[0], "gain1_lo": l1, "gain1_hi": h1, "gain2": g2.iloc[0],
                     "gain2_lo": l2, "gain2_hi": h2, "shrink": (g1 - g2).iloc[0], "shrink_lo": ld, "shrink_hi": hd,
                     "outcome": out})
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


def curves_figure(cv: pd.DataFrame):
    """Validation accuracy per epoch of every training (the convergence check), one panel per seed."""
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


def claims(tab: pd.DataFrame, comp: pd.DataFrame, sat: pd.DataFrame, abg: pd.DataFrame, S: GridSizes) -> list[Claim]:
    """Ledger rows: single-axis saturation, compound vs the single-axis frontier, the paper's coefficients."""
    conv = Precondition.check("every grid training converged", float(tab["all converged"].all()), "==", 1.0, "{:.0f}")
    seeds = Precondition.check("paired seeds per point", float(len(S.seeds)), ">=", 2.0, "{:.0f}")
    learned = Precondition.check("lowest accuracy (>= 2x chance)", float(tab["acc"].min()), ">=", 0.2, "{:.3f}")
    pre = (conv, seeds, learned)
    sat_out = sat["outcome"].tolist()
    sat_holds = "yes" if all(o == "yes" for o in sat_out) else "no" if "no" in sat_out else "inconclusive"
    paper = comp[comp["paper_rule"]]
    top = tab.loc[tab["axis"].isin(SINGLE), "macs_ratio"].max() * (1 + 0.05)
    matched_pre = Precondition.check("compound points inside the single axes' MACs range (interpolated, not "
                                     "extrapolated; largest compound / largest single)",
                                     float(paper["macs_ratio"].max() / top), "<=", 1.0, "{:.2f}")
    outs = set(paper["outcome"])
    comp_holds = outs.pop() if len(outs) == 1 else "partly" if outs == {"yes", "no"} else "inconclusive"
    rows = [
        Claim("04-single-saturates", "EfficientNet §3.2 (Fig. 3)", "scaling any single dimension helps but the gain "
              "saturates", "; ".join(f"{a}: gains {100 * r.gain1:+.1f}, {100 * r.gain2:+.1f} pts ({r.outcome})"
                                     if "gain1" in r and pd.notna(r.gain1) else f"{a}: {r.outcome}"
                                     for a, r in sat.iterrows()), sat_holds,
              "yes per axis: first gain > 0, second not < 0 and smaller (95% paired bootstrap over test images)",
              preconditions=pre),
        Claim("04-compound-best", "EfficientNet §3.3 (Fig. 4)", "compound scaling is more accurate than any single "
              "dimension at equal FLOPs", "; ".join(f"k={r.k:g} ({r.macs_ratio:.2f}x): compound - frontier "
                                                    f"{100 * r['diff']:+.1f} pts [{100 * r.lo:+.1f}, {100 * r.hi:+.1f}]"
                                                    f" (best axis {r.frontier_best})" for _, r in paper.iterrows()),
              comp_holds, "frontier: best single axis, interpolated in log-MACs at the compound's MACs; yes/no "
              "also need every seed's own difference to agree", preconditions=(*pre, matched_pre)),
    ]
    if len(abg) > 1:
        p = abg[abg["paper_rule"]].iloc[0]
        others = abg[~abg["paper_rule"]]
        best = others["diff_to_paper"].idxmax()
        b = others.loc[best]
        holds = "no" if b["outcome"] == "yes" else "yes" if (others["outcome"] == "no").all() else "inconclusive"
        rows.append(Claim("04-abg", "EfficientNet §3.3", "a grid search at phi = 1 gives alpha = 1.2, beta = 1.1, "
                          "gamma = 1.15", f"paper's rule {100 * p['acc']:.1f}%, best other {best} "
                          f"{100 * b['acc']:.1f}% (difference {100 * b['diff_to_paper']:+.1f} pts)", holds,
                          f"{len(abg)} candidates along alpha beta^2 gamma^2 = 2, each matched to 2x the base MACs; "
                          "no: another candidate beats the paper's (interval and every seed); yes: the paper's beats "
                          "every other", interval(b["lo"], b["hi"], "{:+.4f}"), preconditions=pre))
    return rows


def abg_table(cands: pd.DataFrame, boot: pd.DataFrame, per_seed: pd.DataFrame) -> pd.DataFrame:
    """Each candidate's accuracy and its difference to the paper's rule (interval, per seed, outcome)."""
    paper = cands.index[cands["paper_rule"]][0]
    rows = []
    for lab, r in cands.iterrows():
        d = boot[lab] - boot[paper]
        seeds = [float(per_seed.loc[lab, s] - per_seed.loc[paper, s]) for s in per_seed.columns]
        lo, hi = _q(d.iloc[1:])
        rows.append({"label": lab, "compound": r["compound"], "paper_rule": bool(r["paper_rule"]),
                     "macs_ratio": r["macs_ratio"], "acc": float(boot[lab].iloc[0]), "diff_to_paper": float(d.iloc[0]),
                     "lo": lo, "hi": hi, "seed_diffs": seeds,
                     "outcome": "-" if lab == paper else paired_outcome(lo, hi, seeds)})
    return pd.DataFrame(rows).set_index("label")


def findings(tab: pd.DataFrame, comp: pd.DataFrame, sat: pd.DataFrame, abg: pd.DataFrame, S: GridSizes) -> str:
    """The grid's closing paragraph with this run's numbers (markdown)."""
    acc = ", ".join(f"{lab} {100 * r.acc:.1f}% ({r.macs_ratio:.2f}x)" for lab, r in tab.sort_values("macs").iterrows())
    paper = comp[comp["paper_rule"]]
    cmp = "; ".join(f"k={r.k:g}: compound - frontier {100 * r['diff']:+.1f} pts [{100 * r.lo:+.1f}, {100 * r.hi:+.1f}] "
                    f"({r.outcome})" for _, r in paper.iterrows())
    sat_txt = "; ".join(f"{a} {r.outcome}" for a, r in sat.iterrows())
    test = "all 10,000" if S.test_per_class is None else f"{10 * S.test_per_class:,}"
    return (f"**Grid ({len(S.seeds)} seed(s), {10 * S.train_per_class:,} training images, {S.epochs} epochs, {test} "
            f"test images).** Accuracy (mean over seeds) and MACs ratio: {acc}. Every training converged: "
            f"{'yes' if tab['all converged'].all() else 'no'}. Compound (paper's rule) against the single-axis "
            f"frontier: {cmp}. Saturation per axis: {sat_txt}. (alpha, beta, gamma) candidates at 2x: "
            + ", ".join(f"{lab} {100 * r.acc:.1f}%" for lab, r in abg.iterrows()) + ".")
