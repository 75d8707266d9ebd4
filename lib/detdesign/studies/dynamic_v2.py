"""Notebook ``05_dynamicdet``, part 2: DynamicDet on testbed v2, with the premise P1 met by construction.

The departure from the paper, stated in every row: detector 1 is the standalone 00c v2 reference detector of each
seed (trained at its schedule S, then frozen: weights and BN statistics); detector 2 is a stronger detector (the
reference with the ``second_neck`` of :class:`~detdesign.profiles.DynamicV2Sizes`, the BiFPN-softmax neck the 00c
pilot measured +0.13 AP above the matched FPN) that reads the frozen detector 1's features through the official
composite connection and trains alone (loss L2 only) with the reference's recipe and seed. The paper trains two
identical detectors jointly; those rows stay in part 1 (``05-*``), so the reader sees both. Detector 1 of the
cascade *is* the 00c reference, so there is no joint-training cost to measure here.

The router trains on ``router_scenes`` fresh scenes (new compositions of CIFAR-10 test images from the val half,
never seen by either detector), thresholds come from ``threshold_scenes`` more, and everything is measured on the
fixed test split. Detector 2 of the seeds in ``doubled`` also trains at 2S (detector 1 unchanged): the doubling
rung of the relative rows. Seed noise: the cascade's test AP at S joins the instrument of the reference detector at
S (``scenes_v2_ap(variant, "reference S")``); the 2S rung uses that seed SD (one seed at 2S gives none of its own).
"""

from __future__ import annotations

import pandas as pd

from detdesign.dynamic import DynamicConfig, DynamicJob
from detdesign.studies import dynamic
from detdesign.studies import dynamic_report as report

WHERE = ("testbed v2, departure from the paper: detector 1 = the 00c v2 reference detector, frozen; detector 2 = "
         "the reference with the {neck} neck through the composite connection, trained alone")


def splits(T2, S2, variant: str | None = None) -> dict:
    """The reference detector's splits of testbed v2 (its ``ref_scenes_per_epoch``, val, test) and the router's
    fresh ``router`` / ``thresholds`` scenes (:func:`detdesign.data.testbed.load_router_splits`)."""
    from detdesign.data.testbed import V2, load_router_splits
    from detdesign.studies.testbed_v2 import reference_data

    variant = variant or V2
    return {**reference_data(T2, variant), **load_router_splits(variant, S2.router_scenes, S2.threshold_scenes)}


def jobs(run, T2, S2, splits_: dict, variant: str | None = None) -> dict[str, DynamicJob]:
    """``v2 seed s`` per seed of ``S2.seeds`` (detector 2 at S) and ``v2 2S seed s`` per seed of ``S2.doubled``
    (detector 2 at 2S). Detector 1 = the 00c v2 reference at S of that seed (``cfg.first_from`` = its checkpoint
    key: a run is keyed by which detector it froze); detector 2 = the reference with neck ``S2.second_neck``."""
    from detdesign.data.testbed import V2, get_variant
    from detdesign.detection.ablation import neck_variants
    from detdesign.detection.experiment import checkpoint_dir
    from detdesign.detection.recipe import testbed_detector, v2_recipe
    from detdesign.studies.testbed_v2 import reference_jobs

    variant = variant or V2
    v = get_variant(variant)
    neck = neck_variants(v.canvas)[S2.second_neck] if S2.second_neck else None
    refs = reference_jobs(run, T2, variant)
    unknown = sorted(set(S2.doubled) - set(S2.seeds))
    if unknown:
        raise ValueError(f"DynamicV2Sizes.doubled names seeds {unknown} that are not in its seeds {S2.seeds}")
    out = {}
    for schedule, seeds in ((1, S2.seeds), (2, S2.doubled)):
        for seed in seeds:
            ref = refs.get(f"S seed {seed}")
            if ref is None:
                raise ValueError(f"seed {seed} has no 00c v2 reference job at S (ref_seeds {T2.ref_seeds})")
            cfg = DynamicConfig(first=ref.cfg, second=testbed_detector(v, neck),
                                first_from=checkpoint_dir(ref, splits_, ".").name)
            name = f"v2 seed {seed}" if schedule == 1 else f"v2 2S seed {seed}"
            out[name] = DynamicJob("v2", cfg, v2_recipe(T2, seed, run.speed_for(variant), schedule))
    return out


def standalone(run, T2, js: dict[str, DynamicJob], variant: str | None = None) -> pd.DataFrame:
    """The 00c v2 reference detector (detector 1 of every run, cached in ``00c_v2``): AP and its interval per
    run name of ``js`` (a 2S run's detector 1 is the same S reference)."""
    from detdesign.data.testbed import V2
    from detdesign.studies.testbed_v2 import reference_data, reference_jobs, train_named

    variant = variant or V2
    refs = {n: j for n, j in reference_jobs(run, T2, variant).items() if n.startswith("S ")}
    ref = train_named(run, refs, variant, reference_data(T2, variant), "reference (00c v2)")
    return pd.DataFrame({n: ref.loc[f"S seed {j.tcfg.seed}", ["AP", "AP_lo", "AP_hi", "train_seconds"]]
                         for n, j in js.items()}).T


def analyses(run, js: dict[str, DynamicJob], splits_: dict, S) -> dict:
    """:func:`detdesign.studies.dynamic.analyse` of every run (router on the fresh scenes), cached."""
    return {n: dynamic.analyse(run, n, j, splits_, S, j.tcfg.seed) for n, j in js.items()}


def at_2s(names) -> list[str]:
    return [n for n in names if " 2S " in n]


def seed_sd(run, summary: pd.DataFrame, variant: str | None = None) -> float:
    """Add the cascade's test AP at S (one group) to the instrument of the reference at S; its pooled seed SD."""
    from detdesign.data.testbed import V2
    from detdesign.seed_noise import scenes_v2_ap

    s = summary.drop(index=at_2s(summary.index))
    rows = pd.DataFrame({"group": "cascade", "seed": [int(n.split()[-1]) for n in s.index],
                         "AP": s["cascade_AP"].to_numpy()})
    return run.seed_noise.add(scenes_v2_ap(variant or V2, "reference S"), rows, "group", "AP", "05_dynamicdet",
                              lambda _: "DynamicDet cascade, frozen reference + BiFPN softmax (05)")


def ledger_rows(run, summary: pd.DataFrame, an: dict, stage1: pd.DataFrame, ref: pd.DataFrame, sigma: float,
                neck: str) -> list:
    """The ``05-v2-*`` rows: the routing claims on S runs with the 2S runs as the doubling rung. One more seed
    costs detector 2 at S and 2S and its reference detector at S."""
    two = at_2s(summary.index)
    one = [n for n in summary.index if n not in two]
    sec = stage1["train_seconds"]
    unit_h = (sec[one].mean() + (sec[two].mean() if two else 2 * sec[one].mean())
              + ref.loc[one, "train_seconds"].mean()) / 3600  # 2S unknown: twice S
    doubled = (summary.loc[two], [an[n] for n in two]) if two else None
    return report.claims(summary.loc[one], [an[n] for n in one], sigma, unit_h, run.profile.claim_hours,
                         "scenes v2", tag="05-v2", doubled=doubled, where=WHERE.format(neck=neck))


def findings(summary: pd.DataFrame, stage1: pd.DataFrame, sigma: float, neck: str) -> str:
    """The closing "what we found" of part 2 as Markdown, every number from this run."""
    per = lambda col: report.per_run(summary, col)  # noqa: E731
    lines = [
        f"- **Detector 2 ({neck} neck, trained alone on the frozen reference):** stage-1 val AP "
        + ", ".join(f"{n} {r.val_AP:.3f}" for n, r in stage1.iterrows()) + "; detector 1 (the 00c reference) test "
        "AP " + ", ".join(f"{v:.3f}" for v in summary["detector1_AP"]) + ", cascade "
        + ", ".join(f"{v:.3f}" for v in summary["cascade_AP"]) + f"; pooled seed SD {sigma:.4f}.",
        "- **P1 (cascade − detector 1):** " + per("cascade_minus_first") + ".",
        "- **P2 (oracle − random at 50% hard):** " + per("oracle_minus_random") + ".",
        "- **Router − random at 50% hard:** " + per("router_minus_random") + "; Spearman of the router's logit with "
        "the held-out gain " + ", ".join(f"{r:+.2f}" for r in summary["rho"]) + "; saturated scores "
        + ", ".join(f"{100 * s:.0f}%" for s in summary["saturated"]) + ".",
    ]
    return "\n".join(lines)
