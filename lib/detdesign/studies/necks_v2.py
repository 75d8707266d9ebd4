"""Notebook ``04_compound_scaling``, part 2b: the neck ablation redone on testbed v2 (:mod:`detdesign.data.testbed`).

The detectors are those of :mod:`detdesign.studies.effdet` (the reference FCOS detector with its FPN replaced by
BiFPN layers, or by FPN layers of the same fusion layer repeated to the BiFPN's neck MACs) on the chosen variant
``V2`` of testbed v2 (fresh scenes every epoch, 4 distinct classes, objects 24-96 px on a 256-px canvas).

**Schedule S** is the pilot's of ``00c`` (:class:`~detdesign.profiles.TestbedV2Sizes`: ``scenes_per_epoch`` x
``epochs``, batch, learning rate, EMA): the pilot measured the effect and the seed noise there (BiFPN softmax - FPN
+0.133 AP against a seed SD of 0.038), so S is sized from evidence, and the pilot's trainings *are* the S rungs of
the two necks it trained (same content key; :meth:`~detdesign.results.ResultCache.adopt` copies them). The necks of
``EffDetSizes.v2_doubled`` also train at 2S (twice the epochs, the same seeds): a relative claim decides only when
its difference survives the doubled schedule. One variable changes between two detectors: the neck.
"""

from __future__ import annotations

import pandas as pd

from detdesign.data.testbed import V2, get_variant, load_testbed
from detdesign.detection.ablation import neck_cost, neck_variants
from detdesign.detection.experiment import DetectorJob, paired_difference, train_population
from detdesign.detection.recipe import testbed_detector, variant_recipe
from detdesign.profiles import EffDetSizes, TestbedV2Sizes

CACHE = "04_necks_v2"


def splits(T: TestbedV2Sizes, variant: str = V2) -> dict:
    """The train (online) / val / test splits of ``variant`` at the pilot's sizes (the same scenes as the pilot)."""
    return load_testbed(variant, T.scenes_per_epoch, T.n_val, T.n_test)


def context(T: TestbedV2Sizes, variant: str = V2) -> tuple[dict, float, dict[str, float]]:
    """(splits, no-class floor AP of the test split, share of FCOS positives per level on epoch 0's scenes): what
    the neck rows' preconditions are measured on."""
    from detdesign.detection.evaluate import no_class_floor
    from detdesign.detection.recipe import level_shares

    data = splits(T, variant)
    floor = float(no_class_floor(data["test"], T.floor_draws)["AP"])
    shares = level_shares(testbed_detector(get_variant(variant)), data["train"].epoch_targets(0))
    return data, floor, {k: v for k, v in shares.items() if v == v}


def jobs(run, E: EffDetSizes, T: TestbedV2Sizes, variant: str = V2) -> list[tuple[str, int, int, DetectorJob]]:
    """(neck, seed, schedule, job) of every training, schedule 1 (S) first: every neck of ``E.v2_necks`` with every
    seed of ``E.v2_seeds`` at S, then (seed by seed) the necks of ``E.v2_doubled`` at 2S. The recipe is the pilot's
    with the run's v2 speed settings (:meth:`detdesign.Run.speed_for`), so the S jobs of the pilot's necks have its
    keys."""
    unknown = sorted(set(E.v2_doubled) - set(E.v2_necks))
    if unknown:
        raise ValueError(f"EffDetSizes.v2_doubled names necks {unknown} that v2_necks {E.v2_necks} lacks")
    v = get_variant(variant)
    necks = neck_variants(v.canvas)
    out = []
    for schedule, names in ((1, E.v2_necks), (2, E.v2_doubled)):
        for seed in E.v2_seeds:  # seed-major: an interrupted run leaves whole pairs
            for neck in names:
                tcfg = variant_recipe(T.epochs * schedule, T.batch_size, T.lr, T.ema, seed, **run.speed_for(variant))
                out.append((neck, seed, schedule, DetectorJob(testbed_detector(v, necks[neck]), tcfg,
                                                              bootstrap=T.bootstrap, keep_boot=True)))
    return out


def train(run, E: EffDetSizes, T: TestbedV2Sizes, data: dict, variant: str = V2) -> pd.DataFrame:
    """Every job of :func:`jobs` through ``run.map`` (cached in ``04_necks_v2``; the pilot's identical runs are
    adopted from ``00c_pilot`` first). One row per training: neck, seed, schedule and the detector's metrics."""
    js = jobs(run, E, T, variant)
    keys = [job.key(data) for *_, job in js]
    adopted = run.cache(CACHE).adopt(run.cache("00c_pilot"), keys)
    if adopted:
        print(f"{adopted} training(s) reused from the 00c pilot (identical content keys)")
    rows = train_population(run, [(variant, job) for *_, job in js], {variant: data}, CACHE, CACHE,
                            desc="04 necks on testbed v2")
    return pd.DataFrame([{"neck": n, "seed": s, "schedule": k, **r} for (n, s, k, _), r in zip(js, rows)])


def metrics_table(trained: pd.DataFrame, variant: str = V2) -> pd.DataFrame:
    """Per (neck, schedule): mean AP, AP50, AP_S/M/L, per-seed AP, training seconds and the neck's MACs."""
    cols = ["AP", "AP50", "APs", "APm", "APl", "train_seconds"]
    g = trained.groupby(["neck", "schedule"], sort=False)
    out = g[cols].mean()
    out["seeds"] = g["seed"].count()
    out["AP per seed"] = g["AP"].apply(lambda a: ", ".join(f"{v:.3f}" for v in a))
    canvas = get_variant(variant).canvas
    macs = {n: neck_cost(testbed_detector(get_variant(variant), c), runs=0)["neck_MMACs"]
            for n, c in neck_variants(canvas).items() if n in set(trained["neck"])}
    out["neck_MMACs"] = [macs[n] for n, _ in out.index]
    return out


def seed_sd(trained: pd.DataFrame) -> float:
    """Pooled seed SD of test AP within every (neck, schedule) group of this study (its own noise measurement)."""
    from detdesign.stats import pooled_sd

    sd, _ = pooled_sd([g["AP"].to_numpy() for _, g in trained.groupby(["neck", "schedule"])])
    return float(sd)


def difference(trained: pd.DataFrame, a: str, b: str, sigma: float, schedule: int = 1):
    """AP of neck ``a`` minus ``b`` at ``schedule`` (paired seeds, shared test resamples, seed SD ``sigma`` in the
    interval) as a :class:`~detdesign.claims.Difference`, or None when one of them was not trained there."""
    at = trained[trained["schedule"] == schedule]
    ta, tb = (at[at["neck"] == n].set_index("seed") for n in (a, b))
    if ta.empty or tb.empty:
        return None
    return paired_difference(ta, tb, sigma, schedule)


def group_name(neck: str, schedule: int, variant: str = V2, pilot_necks: tuple[str, ...] = ()) -> str:
    """The seed-noise group of a neck's runs: at S a neck the 00c pilot trained keeps the pilot's group name (the
    same runs: the table replaces its rows instead of counting them twice); every other group is named for 04."""
    if schedule == 1 and neck in pilot_necks:
        return f"{neck} on {variant} (00c pilot)"
    return f"{neck} on {variant} (04)"


def seed_noise(run, trained: pd.DataFrame, T: TestbedV2Sizes, variant: str = V2) -> dict[int, float]:
    """Add each schedule's groups to the project's seed-noise table and return {schedule: pooled seed SD}. At S the
    instrument is the 00c pilot's (:func:`group_name`: the pilot's own runs are not counted twice); 2S is its own
    instrument (groups of different schedules are never pooled)."""
    from detdesign.seed_noise import scenes_v2_ap

    names = {1: "pilot schedule", 2: "2x pilot schedule"}
    return {int(k): run.seed_noise.add(scenes_v2_ap(variant, names[k]), g, "neck", "AP", "04_compound_scaling",
                                       lambda n, k=int(k): group_name(n, k, variant, T.necks))
            for k, g in trained.groupby("schedule")}


def ladders(trained: pd.DataFrame, sigmas: dict[int, float]) -> dict[str, list]:
    """{"BiFPN fast - FPN matched": [Difference at S, at 2S if trained], "BiFPN fast - BiFPN softmax": [...]}: the
    rungs each ledger row decides on (shortest schedule first); ``sigmas``: the seed SD of each schedule."""
    out = {}
    for b in ("FPN matched", "BiFPN softmax"):
        schedules = sorted(int(k) for k in trained["schedule"].unique())
        rungs = [difference(trained, "BiFPN fast", b, sigmas[k], k) for k in schedules]
        if rungs and rungs[0] is not None:
            out[f"BiFPN fast - {b}"] = [d for d in rungs if d is not None]
    return out


def ladder_table(lad: dict[str, list]) -> pd.DataFrame:
    """One row per (pair, schedule): difference, 95% interval (seed variance included), per-seed differences."""
    return pd.DataFrame([{"pair": k, "schedule": f"{d.schedule:g}S", "diff": d.diff, "lo": d.lo, "hi": d.hi,
                          "per seed": d.seeds_text()} for k, rungs in lad.items() for d in rungs]
                        ).set_index(["pair", "schedule"])


def preconditions(trained: pd.DataFrame, floor: float, shares: dict[str, float]) -> tuple:
    """The preconditions of both neck rows: >= 2 seeds per neck, every neck learned classes (its lowest test AP at
    S above the variant's no-class ``floor`` by the margin), every pyramid level >= 10% of the positives."""
    from detdesign.claims import Precondition, learned_classes

    at_s = trained[trained["schedule"] == 1]
    seeds = Precondition.check("seeds per neck", float(at_s.groupby("neck")["seed"].count().min()), ">=", 2.0,
                               "{:.0f}")
    learned = learned_classes(float(at_s["AP"].min()), floor, who="every neck")
    levels = Precondition.check("smallest share of positives on a pyramid level", float(min(shares.values())),
                                ">=", 0.10, "{:.3f}")
    return seeds, learned, levels


def claims(trained: pd.DataFrame, lad: dict[str, list], lat: pd.DataFrame, sigmas: dict[int, float], floor: float,
           shares: dict[str, float], hours: float, variant: str = V2, lat_batch=None) -> list:
    """``04-bifpn-vs-fpn`` and ``04-fast-fusion`` decided on testbed v2 (:func:`detdesign.studies.effdet.claims`):
    one more seed costs the two compared necks at every schedule trained; ``lat_batch``: (batch, latency table)."""
    from detdesign.studies.effdet import claims as neck_claims

    per_seed_h = float(trained.groupby("schedule")["train_seconds"].mean().sum()) * 2 / 3600
    m = metrics_table(trained, variant).xs(1, level="schedule")
    graph = lad["BiFPN fast - FPN matched"]
    fusion = lad.get("BiFPN fast - BiFPN softmax", graph)
    return neck_claims(m, graph, fusion, lat, preconditions(trained, floor, shares), sigmas[max(sigmas)],
                       per_seed_h, hours, f"testbed {variant} (online scenes), the 00c pilot's recipe as S", lat_batch)


def findings(trained: pd.DataFrame, lad: dict[str, list], floor: float, variant: str = V2) -> str:
    """The closing paragraph of the v2 neck ablation with this run's numbers (markdown)."""
    m = metrics_table(trained, variant)
    aps = "; ".join(f"{n} at {k}S {r.AP:.3f} ({r['AP per seed']})" for (n, k), r in m.iterrows())
    diffs = "; ".join(f"{p} at {d.schedule:g}S {d.text()}" for p, rungs in lad.items() for d in rungs)
    return (f"**Necks on testbed {variant}** (no-class floor {floor:.3f}). Test AP per neck and schedule (per seed): "
            f"{aps}. Paired differences (intervals include seed variance): {diffs}.")


def figure(trained: pd.DataFrame, floor: float):
    """Test AP of every training (dots: seeds) per neck at S and 2S, the no-class floor dashed."""
    import matplotlib.pyplot as plt

    necks = list(dict.fromkeys(trained["neck"]))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for j, k in enumerate(sorted(trained["schedule"].unique())):
        sub = trained[trained["schedule"] == k]
        x = [necks.index(n) + (j - 0.5) * 0.25 for n in sub["neck"]]
        ax.scatter(x, sub["AP"], s=32, color=f"C{j}", label=f"{k:g}S", zorder=3)
    ax.axhline(floor, color="grey", ls="--", lw=1, label="no-class floor")
    ax.set_xticks(range(len(necks)), necks)
    ax.set(ylabel="test AP", title="Necks on testbed v2: test AP per neck and schedule (dots: seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fusion_table(run, E: EffDetSizes, T: TestbedV2Sizes, data: dict, variant: str = V2) -> pd.DataFrame:
    """The fast-fusion weights every BiFPN-fast training ended with (EMA weights: the evaluated model), one row per
    training: fusion inputs, dead inputs (``w <= 0``: no gradient through ``relu``, so weight decay can switch an
    input off for good), the smallest weight and the smallest share. Read from the checkpoints (never committed)
    once and cached in ``04_fusion_v2`` under the job's key, so a fresh clone shows the published table; a training
    whose checkpoint and row are both missing is left out."""
    import torch

    from detdesign.detection.ablation import fusion_weights
    from detdesign.detection.experiment import checkpoint_dir

    cache, rows = run.cache("04_fusion_v2"), []
    for neck, seed, schedule, job in jobs(run, E, T, variant):
        if neck != "BiFPN fast":
            continue
        key = job.key(data)
        if key not in cache:
            ckpt = checkpoint_dir(job, data, run.checkpoints(CACHE)) / "last.pt"
            if not ckpt.exists():
                continue
            w = fusion_weights(torch.load(ckpt, map_location="cpu", weights_only=True))
            w = w[w["weights"] == "ema"] if (w["weights"] == "ema").any() else w
            cache.put(key, {"inputs": len(w), "dead": int(w["dead (fast)"].sum()), "min_w": float(w["w"].min()),
                            "min_share": float(w["fast share"].min()), "median_w": float(w["w"].median())})
        rows.append({"neck": neck, "seed": seed, "schedule": f"{schedule}S",
                     **{k: v for k, v in cache.get(key).items() if not k.startswith("_")}})
    return pd.DataFrame(rows)
