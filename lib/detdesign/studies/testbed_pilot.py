"""Notebook ``00c_testbed``, second half: the pilot that picks testbed v2 (:mod:`detdesign.data.testbed`).

On each candidate variant of :class:`~detdesign.profiles.PilotSizes` the two most different detectors of
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

from detdesign.claims.preconditions import LEARNED_MARGIN
from detdesign.data.testbed import get_variant, load_testbed
from detdesign.detection.ablation import neck_variants
from detdesign.detection.evaluate import no_class_floor
from detdesign.detection.experiment import DetectorJob, paired_difference, train_population
from detdesign.detection.recipe import level_shares, testbed_detector, variant_recipe
from detdesign.profiles import PilotSizes
from detdesign.stats import pooled_sd

LEVEL_TARGET = 0.10  # every used pyramid level keeps >= 10% of the FCOS positives


def load_variants(P: PilotSizes) -> dict[str, dict]:
    """{variant: its train (online) / val / test splits} for every candidate of the pilot."""
    return {name: load_testbed(name, P.scenes_per_epoch, P.n_val, P.n_test) for name in P.variants}


def jobs(run, P: PilotSizes) -> list[tuple[str, str, int, DetectorJob]]:
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


def train_pilot(run, P: PilotSizes, data: dict) -> pd.DataFrame:
    """Train every job of :func:`jobs` as one population (cached in ``00c_pilot``): one row per training."""
    js = jobs(run, P)
    rows = train_population(run, [(name, job) for name, _, _, job in js], data, "00c_pilot", "00c_pilot",
                            desc="pilot detectors")
    return pd.DataFrame([{"variant": name, "neck": neck, "seed": seed, **r}
                         for (name, neck, seed, _), r in zip(js, rows)])


def floors(P: PilotSizes, data: dict) -> pd.DataFrame:
    """The no-class floor of each variant's test split (every box once per class, and once with one class)."""
    return pd.DataFrame([{"variant": name, **no_class_floor(d["test"], P.floor_draws)}
                         for name, d in data.items()]).set_index("variant")


def shares(P: PilotSizes, data: dict) -> pd.DataFrame:
    """Share of FCOS positives per level of the reference detector, on the first epoch of training scenes."""
    rows = [{"variant": name, **level_shares(testbed_detector(get_variant(name)), d["train"].targets(0)
                                             if hasattr(d["train"], "set_epoch") else d["train"].targets)}
            for name, d in data.items()]
    return pd.DataFrame(rows).set_index("variant")


def pilot_table(P: PilotSizes, trained: pd.DataFrame, floor: pd.DataFrame, level: pd.DataFrame) -> pd.DataFrame:
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
