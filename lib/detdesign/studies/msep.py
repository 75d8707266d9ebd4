"""The earlier version of notebook ``03_msep_ablation``: MAE-DET's entropy against detection AP on BCCD.

The rebuilt notebook (``studies.maedet`` / ``studies.maedet_search``) reads this sweep as the confound it was: K
backbones at the ResNet-18-like backbone's MACs with different stage allocations (free depth), every proxy of
:data:`PROXIES` scored on each, every backbone trained as an FCOS detector with one short schedule. What stays here
is what it reads: the backbones, their scores and the cached trainings (``03_msep_scores``, ``03_msep_detectors``),
and the detector job (the schedule-sensitivity study lengthens it). The old analysis (correlations, EA
ablation, claims, entropy-variant sweep) was removed with the old notebook (2026-11-27).
"""

from __future__ import annotations

import pandas as pd

from detdesign.arch import ZenNet
from detdesign.detection import RESNET18_LIKE, DetectorConfig, TrainConfig
from detdesign.detection.backbone import Backbone
from detdesign.detection.experiment import DetectorJob, train_population
from detdesign.profiles import MSEPSizes
from detdesign.proxies import compute
from detdesign.results import content_key
from detdesign.search import Budget, cost, sample_allocations

BASELINE = RESNET18_LIKE
# proxy column -> (registered proxy, options); all scored on the five-stage backbone
PROXIES = {
    "msep": ("maedet_entropy", {"variant": "analytic", "alpha": "msep"}),
    "single_scale": ("maedet_entropy", {"variant": "analytic", "alpha": "single"}),
    "msep_forward": ("maedet_entropy", {"variant": "forward", "alpha": "msep"}),
    "msep_paper": ("maedet_entropy", {"variant": "paper", "alpha": "msep", "feature_size": "log"}),
    "zen": ("zen", {}),
    "macs": (None, {}),
    "params": (None, {}),
    "layers": (None, {}),
}


def budget(S: MSEPSizes) -> Budget:
    """The search budget: the baseline backbone's MACs at the training size, and ``S.max_layers`` convs."""
    return Budget(macs=cost(BASELINE, S.image_size).macs, layers=S.max_layers, resolution=S.image_size)


def backbones(S: MSEPSizes, seed: int) -> list[str]:
    """K backbones at the baseline's MACs with deliberately different stage allocations."""
    return sample_allocations(S.n_backbones, budget(S).macs, S.image_size, seed=seed)


def score(structure: str, S: MSEPSizes, seed: int) -> dict:
    """Every proxy of :data:`PROXIES` for one backbone, plus its MACs, params and layer count."""
    c = cost(structure, S.image_size)
    row = {"macs": c.macs, "params": c.params, "layers": c.layers}
    for col, (name, opts) in PROXIES.items():
        if name is None:
            continue
        net = ZenNet(structure, num_classes=1) if name == "zen" else Backbone(structure)
        row[col] = compute(name, net, resolution=S.proxy_resolution, batch_size=S.proxy_batch, seed=seed,
                           **opts).value
    return row


def _score_job(structure: str, S: MSEPSizes, seed: int) -> dict:
    return {"structure": structure, **score(structure, S, seed)}


def score_all(run, structures: list[str], S: MSEPSizes, seed: int) -> pd.DataFrame:
    """:func:`score` for every structure through ``run.map``, cached in ``03_msep_scores``."""
    fields = ("macs", "params", "layers", *(col for col, (name, _) in PROXIES.items() if name))
    rows = run.map(_score_job, structures, key=lambda s: content_key(s, S.image_size, S.proxy_resolution,
                                                                       S.proxy_batch, seed),
                   cache=run.cache("03_msep_scores", fields=fields), shared={"S": S, "seed": seed}, desc="scoring")
    return pd.DataFrame([{**r, "structure": s} for r, s in zip(rows, structures)])


def job(structure: str, S: MSEPSizes, seed: int) -> DetectorJob:
    """The detector of one backbone with the study's schedule."""
    return DetectorJob(DetectorConfig(backbone=structure, image_size=S.image_size),
                       TrainConfig(epochs=S.epochs, batch_size=S.batch_size, lr=S.lr, seed=seed,
                                   max_iters_per_epoch=S.max_iters_per_epoch))


def train_all(run, structures: list[str], S: MSEPSizes, splits: dict, seed: int) -> pd.DataFrame:
    """Train every backbone as a detector (a population through ``run.map``); test AP/AP50, cached."""
    rows = train_population(run, [("bccd", job(s, S, seed)) for s in structures], {"bccd": splits}, "03_msep_detectors",
                            "03")
    return pd.DataFrame([{"structure": s, **{k: r[k] for k in ("AP", "AP50", "train_seconds", "final_loss")}}
                         for s, r in zip(structures, rows)])
