"""Notebook ``00c_testbed``, second half: the pilot that picks testbed v2 (:mod:`detdesign.data.testbed`).

On each candidate variant of :class:`~detdesign.profiles.TestbedV2Sizes` the two most different detectors of
notebook 04's neck ablation (the MACs-matched FPN and the BiFPN with softmax fusion, both on the reference
detector) train with paired seeds and one short schedule equal in images for every variant. Per variant the
table reports test AP, the no-class floor (:func:`~detdesign.detection.evaluate.no_class_floor`), the seed SD
(pooled within each neck), the neck difference with its seed-aware interval, the effect-to-seed-noise ratio
``|BiFPN - FPN| / seed SD`` and the smallest share of positives on a pyramid level. The chosen variant has the
best ratio among those whose every level keeps >= 10% of the positives and whose detectors learned classes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from detdesign.claims import (
    Claim,
    Precondition,
    all_of,
    at_least,
    at_most,
    converged_by_doubling,
    decided,
    equivalence_outcome,
    interval,
    learned_classes,
)
from detdesign.claims.power import seed_gate
from detdesign.claims.preconditions import LEARNED_MARGIN
from detdesign.data.testbed import get_variant, load_testbed
from detdesign.detection.ablation import neck_variants
from detdesign.detection.evaluate import no_class_floor
from detdesign.detection.experiment import DetectorJob, paired_difference, train_population
from detdesign.detection.recipe import level_shares, testbed_detector, v2_recipe, variant_recipe
from detdesign.profiles import TestbedV2Sizes
from detdesign.stats import pooled_sd

LEVEL_TARGET = 0.10  # every used pyramid level keeps >= 10% of the FCOS positives


def load_variants(P: TestbedV2Sizes) -> dict[str, dict]:
    """{variant: its train (online) / val / test splits} for every candidate of the pilot."""
    return {name: load_testbed(name, P.scenes_per_epoch, P.n_val, P.n_test) for name in P.variants}


def jobs(run, P: TestbedV2Sizes) -> list[tuple[str, str, int, DetectorJob]]:
    """(variant, neck, seed, job) of every pilot training: paired seeds, the run's v2 speed settings, test AP with
    per-resample values kept (the necks of one seed share their resamples)."""
    out = []
    for name in P.variants:
        v = get_variant(name)
        necks = neck_variants(v.canvas)
        for neck in P.necks:
            for seed in P.seeds:
                tcfg = variant_recipe(P.epochs, P.batch_size, P.lr, P.ema, seed, **run.speed_for(name))
                out.append((name, neck, seed, DetectorJob(testbed_detector(v, necks[neck]), tcfg,
                                                          bootstrap=P.bootstrap, keep_boot=True)))
    return out


def train_pilot(run, P: TestbedV2Sizes, data: dict) -> pd.DataFrame:
    """Train every job of :func:`jobs` as one population (cached in ``00c_pilot``): one row per training."""
    js = jobs(run, P)
    rows = train_population(run, [(name, job) for name, _, _, job in js], data, "00c_pilot", "00c_pilot",
                            desc="pilot detectors")
    return pd.DataFrame([{"variant": name, "neck": neck, "seed": seed, **r}
                         for (name, neck, seed, _), r in zip(js, rows)])


def floors(P: TestbedV2Sizes, data: dict) -> pd.DataFrame:
    """The no-class floor of each variant's test split (every box once per class, and once with one class)."""
    return pd.DataFrame([{"variant": name, **no_class_floor(d["test"], P.floor_draws)}
                         for name, d in data.items()]).set_index("variant")


def shares(P: TestbedV2Sizes, data: dict) -> pd.DataFrame:
    """Share of FCOS positives per level of the reference detector, on the first epoch of training scenes."""
    rows = [{"variant": name, **level_shares(testbed_detector(get_variant(name)), d["train"].epoch_targets(0))}
            for name, d in data.items()]
    return pd.DataFrame(rows).set_index("variant")


def pilot_table(P: TestbedV2Sizes, trained: pd.DataFrame, floor: pd.DataFrame, level: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: the necks' mean test AP, the floor and the margin above it, the pooled seed SD, the
    paired difference BiFPN softmax - FPN matched with its seed-aware interval, the ratio, the smallest level
    share, the training seconds, and whether the variant is eligible."""
    rows = []
    a_name, b_name = P.necks[1], P.necks[0]
    for name, g in trained.groupby("variant", sort=False):
        sd, dof = pooled_sd([n["AP"].to_numpy() for _, n in g.groupby("neck")])
        a, b = (g[g["neck"] == k].set_index("seed") for k in (a_name, b_name))
        d = paired_difference(a, b, sd if np.isfinite(sd) else 0.0)
        ap_min = float(g["AP"].min())
        rows.append({"variant": name, f"AP {b_name}": float(b["AP"].mean()), f"AP {a_name}": float(a["AP"].mean()),
                     "floor": floor.loc[name, "AP"], "AP - floor (min)": ap_min - floor.loc[name, "AP"],
                     "seed SD": sd, "seed dof": dof, "diff": d.diff, "diff_lo": d.lo, "diff_hi": d.hi,
                     "ratio": abs(d.diff) / sd if sd > 0 else float("nan"),
                     "min level share": float(level.loc[name].dropna().min()),
                     "train s (mean)": float(g["train_seconds"].mean())})
    t = pd.DataFrame(rows).set_index("variant")
    t["eligible"] = (t["min level share"] >= LEVEL_TARGET) & (t["AP - floor (min)"] >= LEARNED_MARGIN)
    return t


def pilot_figure(trained: pd.DataFrame, floor: pd.DataFrame):
    """Test AP of every pilot training (one dot per seed) per variant and neck, the no-class floor as a line."""
    names = list(dict.fromkeys(trained["variant"]))
    necks = list(dict.fromkeys(trained["neck"]))
    fig, ax = plt.subplots(figsize=(6.8, 3.6))
    for j, neck in enumerate(necks):
        sub = trained[trained["neck"] == neck]
        x = [names.index(v) + (j - 0.5) * 0.25 for v in sub["variant"]]
        ax.scatter(x, sub["AP"], s=30, label=neck, zorder=3)
    for i, name in enumerate(names):
        ax.hlines(floor.loc[name, "AP"], i - 0.4, i + 0.4, colors="grey", linestyles="--",
                  label="no-class floor" if i == 0 else None)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="test AP", title="Pilot: test AP per variant and neck (dots: seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- the chosen variant: the reference detector at S and 2S, and the fp32 / bf16 parity -------------------------
def pilot_splits(T: TestbedV2Sizes, pilot_data: dict, variant: str) -> dict:
    """The pilot's splits of ``variant`` (loaded when the profile's pilot did not include it)."""
    return pilot_data.get(variant) or load_testbed(variant, T.scenes_per_epoch, T.n_val, T.n_test)


def curve_figure(ref: pd.DataFrame):
    """Validation AP against training images, one line per reference-detector run (S and 2S)."""
    from detdesign.training import curves as long_curves

    long = long_curves(ref, ("run",))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, g in long.groupby("run"):
        ax.plot(g["epoch"], g["AP"], marker="o", ms=3, label=name)
    ax.set(xlabel="epoch (fresh scenes every epoch)", ylabel="val AP (EMA weights)",
           title="Reference detector on testbed v2: validation curves")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reference_data(T: TestbedV2Sizes, variant: str) -> dict:
    """The splits the reference detector trains on: ``T.ref_scenes_per_epoch`` fresh scenes per epoch."""
    return load_testbed(variant, T.ref_scenes_per_epoch, T.n_val, T.n_test)


def reference_jobs(run, T: TestbedV2Sizes, variant: str) -> dict[str, DetectorJob]:
    """The reference detector on ``variant``: each of ``T.ref_seeds`` at the schedule S and, with
    ``T.ref_doubling``, the first seed again at 2S (the doubling test); validation curve, test AP with kept
    resamples."""
    v = get_variant(variant)

    def job(seed: int, schedule: int) -> DetectorJob:
        tcfg = v2_recipe(T, seed, run.speed_for(variant), schedule)
        return DetectorJob(testbed_detector(v), tcfg, validate=True, bootstrap=T.bootstrap, keep_boot=True)

    out = {f"S seed {s}": job(s, 1) for s in T.ref_seeds}
    if T.ref_doubling:
        out[f"2S seed {T.ref_seeds[0]}"] = job(T.ref_seeds[0], 2)
    return out


def parity_jobs(run, T: TestbedV2Sizes, variant: str) -> dict[str, DetectorJob]:
    """The pilot's first detector (``T.necks[0]``, the MACs-matched FPN) on ``variant`` at the pilot's schedule in
    fp32 and in bf16, both channels_last, seeds ``T.parity_seeds``: the bf16 jobs *are* the pilot's (same keys,
    read from its cache when the pilot ran bf16), so the parity costs only the fp32 trainings."""
    v = get_variant(variant)
    neck = neck_variants(v.canvas)[T.necks[0]]
    return {f"{p} seed {s}": DetectorJob(testbed_detector(v, neck), variant_recipe(
        T.epochs, T.batch_size, T.lr, T.ema, s, precision=p, channels_last=True), bootstrap=T.bootstrap,
        keep_boot=True) for p in ("fp32", "bf16") for s in T.parity_seeds}


def train_named(run, jobs_: dict[str, DetectorJob], dataset: str, data: dict, desc: str,
                cache: str = "00c_v2") -> pd.DataFrame:
    """Train ``jobs_`` on ``data`` (one dataset) in ``cache``; rows indexed by the jobs' names, with the schedule
    (``S`` / ``2S``, or the precision) and the seed split out of the name. The parity runs use the pilot's cache
    (``00c_pilot``), where its bf16 arm already lies."""
    rows = train_population(run, [(dataset, j) for j in jobs_.values()], {dataset: data}, cache, cache, desc=desc)
    df = pd.DataFrame([{"run": name, "arm": name.split()[0], "seed": int(name.split()[-1]), **r}
                       for name, r in zip(jobs_, rows)])
    return df.set_index("run")


AP_TARGET, FLOOR_GAP, SEED_SD_TARGET, PARITY_MARGIN = 0.35, 0.20, 0.005, 0.01  # the testbed issue's targets


def parity_difference(parity: pd.DataFrame, sigma: float):
    """bf16 minus fp32 test AP of the parity runs, paired by seed, as a seed-aware Difference."""
    a, b = (parity[parity["arm"] == p].set_index("seed") for p in ("bf16", "fp32"))
    return paired_difference(a, b, sigma)


def claims(T: TestbedV2Sizes, table: pd.DataFrame, chosen: str | None, variant: str, ref: pd.DataFrame,
           parity: pd.DataFrame, floor: float, sigma: float, level: pd.DataFrame,
           budget_hours: float) -> list[Claim]:
    """Ledger rows of testbed v2 (the project's own targets): the pilot's choice, positives per level, learned
    classes, seed SD, the doubling test and the fp32 / bf16 parity (gated by the seeds that would decide it within
    ``budget_hours``, :func:`~detdesign.claims.power.seed_gate`). ``chosen``: this run's pilot choice;
    ``variant``: the registered v2 (:data:`detdesign.data.testbed.V2`) the reference detector trained on."""
    row = table.loc[chosen] if chosen is not None else None
    name = chosen or "none"
    at_s = ref[ref["arm"] == "S"]
    ap, sd = float(at_s["AP"].mean()), float(at_s["AP"].std(ddof=1)) if len(at_s) > 1 else float("nan")
    s0 = float(at_s.loc[at_s["seed"] == T.ref_seeds[0], "AP"].iloc[0])
    two = ref.loc[ref["arm"] == "2S", "AP"]
    learned = learned_classes(float(at_s["AP"].min()), floor, who="the reference detector")
    d = parity_difference(parity, sigma)
    aps = ", ".join(f"{a:.3f}" for a in at_s["AP"])
    return [
        Claim("00c-v2-pilot", "project target", "a pilot picks a testbed-v2 variant on which both necks learn "
              f"classes (AP >= floor + {LEARNED_MARGIN}) and every level keeps >= {LEVEL_TARGET:.0%} of positives",
              f"chosen {name}" + (f": ratio {row['ratio']:.1f}, AP - floor {row['AP - floor (min)']:+.3f}, smallest "
                                  f"level share {row['min level share']:.1%}" if row is not None else ""),
              decided(at_least(float(table["eligible"].sum()), 1)), f"{len(table)} variants x {len(T.necks)} necks x "
              f"{len(T.seeds)} seeds, {T.epochs * T.scenes_per_epoch:,} training images each", kind="target"),
        Claim("00c-v2-level-shares", "project target", f"every level P3..P5 of the reference detector receives >= "
              f"{LEVEL_TARGET:.0%} of the positives on the chosen variant", ", ".join(
                  f"{k} {v:.1%}" for k, v in level.loc[name].dropna().items()) if chosen else "no variant chosen",
              decided(at_least(float(level.loc[name].min()), LEVEL_TARGET) if chosen else "inconclusive"),
              "FCOS assignment with the variant's level ranges, first epoch of training scenes", kind="target"),
        Claim("00c-v2-learned-classes", "project target", f"the reference detector reaches test AP >= {AP_TARGET} "
              f"and >= {FLOOR_GAP} above the variant's no-class floor", f"test AP {aps} at S (floor {floor:.3f})",
              decided(all_of([at_least(ap, AP_TARGET), at_least(ap - floor, FLOOR_GAP)])),
              f"{variant}, S = {T.ref_epochs} epochs x {T.ref_scenes_per_epoch:,} fresh scenes", kind="target",
              preconditions=(learned,)),
        Claim("00c-v2-seed-sd", "project target", f"the reference detector's seed SD is <= {SEED_SD_TARGET} AP",
              f"SD {sd:.4f} over {len(at_s)} seeds at S", decided(at_most(sd, SEED_SD_TARGET)),
              "a 2-seed SD has 1 degree of freedom: a first estimate", kind="target",
              preconditions=(Precondition.check("seeds at S", len(at_s), ">=", 2, "{:.0f}"),)),
        Claim("00c-v2-converged", "project target", "the reference detector converges within S (doubling test: "
              "test AP at 2S minus at S below 0.01)", f"seed {T.ref_seeds[0]}: {s0:.3f} at S, "
              + (f"{float(two.iloc[0]):.3f} at 2S" if len(two) else "2S not trained"),
              converged_by_doubling(s0, float(two.iloc[0]) if len(two) else None), "EMA weights", kind="target"),
        Claim("00c-v2-bf16-parity", "project target", f"bf16 + channels_last training ends within +-{PARITY_MARGIN} "
              "test AP of fp32 (same seeds)", f"bf16 - fp32 {d.diff:+.4f} over {d.seeds} seed(s)",
              seed_gate(decided(equivalence_outcome(d.lo, d.hi, PARITY_MARGIN)), d, sigma,
                        float(parity["train_seconds"].sum()) / 3600 / max(1, d.seeds), budget_hours,
                        margin=PARITY_MARGIN), f"{T.necks[0]} detector on {variant}, pilot "
              "schedule; interval includes the pilot's seed SD", interval=interval(d.lo, d.hi, "{:+.4f}"),
              kind="target"),
    ]
