"""The cached "train, evaluate, keep the numbers" step shared by every detector population (notebooks 03-05).

A :class:`DetectorJob` is one detector to train (config + schedule). :func:`train_evaluate` trains it with
:func:`~detdesign.detection.fit` (checkpointed, resumable) and returns a flat row of COCO test metrics, the
training time and loss, and, when a validation split is used, the convergence verdict of its validation curve.
:func:`train_population` runs many jobs through the run's executor (``run.map``), each cached under the job's
content key, so an interrupted or distributed population resumes and loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detdesign.detection.config import DetectorConfig, TrainConfig
from detdesign.detection.efficientdet_model import EfficientDetSpec, build_efficientdet
from detdesign.detection.evaluate import bootstrap_ap, coco_metrics, predict_all
from detdesign.detection.model import build_detector
from detdesign.detection.module_backbone import module_fingerprint
from detdesign.detection.training import fit, run_dir
from detdesign.results import content_key
from detdesign.stats import basic_interval
from detdesign.training import curve_json


@dataclass(frozen=True)
class DetectorJob:
    """One detector of a population: what to build and how to train it.

    ``cfg``: a :class:`DetectorConfig` (FCOS detectors) or an
    :class:`~detdesign.detection.efficientdet_model.EfficientDetSpec`;
    ``validate``: record a validation curve (val AP per evaluation) and its convergence verdict;
    ``bootstrap``: also report a 95% interval of test AP over ``bootstrap`` image resamples;
    ``keep_boot``: also keep the AP of every resample (``AP_boot``). The resamples depend only on the test split,
    ``bootstrap`` and the training seed, so two jobs of the same seed are paired resample by resample.
    """

    cfg: DetectorConfig | EfficientDetSpec
    tcfg: TrainConfig
    validate: bool = False
    bootstrap: int = 0
    keep_boot: bool = False

    def key(self, splits: dict) -> str:
        """The content key: config, schedule and split sizes (a validated job also keys on the val split)."""
        parts = (self.cfg, self.tcfg, len(splits["train"]), len(splits["test"]))
        sources = tuple(getattr(splits[k], "source", None) for k in ("train", "test"))
        if any(s is not None for s in sources):  # a testbed v2 variant (v1 and BCCD keep their published keys)
            parts += ("source", *sources)
        if self.validate:
            parts += ("val", len(splits["val"]))
        fingerprint = module_fingerprint(getattr(self.cfg, "backbone", None))
        if fingerprint is not None:  # one's own nn.Module backbone: its architecture, not only its name
            parts += ("module", fingerprint)
        if self.bootstrap:
            parts += ("bootstrap", self.bootstrap)
        if self.keep_boot:
            parts += ("keep_boot",)
        return content_key(*parts)

    def fields(self) -> tuple[str, ...]:
        """The columns a cached row of this job must carry (a stored row lacking one is recomputed)."""
        out = ("AP", "AP50", "train_seconds", "final_loss")
        if self.validate:
            out += ("val_AP", "val_gain", "converged", "curve")
        if self.bootstrap:
            out += ("AP_q025", "AP_q975", "AP_lo", "AP_hi")
        if self.bootstrap and self.keep_boot:
            out += ("AP_boot",)
        return out


def population_fields(jobs) -> tuple[str, ...]:
    """The columns every job of a population's rows carries (the cache's schema)."""
    sets = [set(j.fields()) for j in jobs]
    return tuple(sorted(set.intersection(*sets))) if sets else ()


def _builder(job: DetectorJob):
    return build_efficientdet if isinstance(job.cfg, EfficientDetSpec) else build_detector


def checkpoint_dir(job: DetectorJob, splits: dict, base_dir) -> Path:
    """The folder under ``base_dir`` where :func:`train_evaluate` keeps ``job``'s checkpoint
    (:func:`~detdesign.detection.training.run_dir` of the model it builds)."""
    val = splits["val"] if job.validate else None
    return run_dir(_builder(job)(job.cfg, seed=job.tcfg.seed), job.cfg, job.tcfg, splits["train"], base_dir, val)


def train_evaluate(job: DetectorJob, splits: dict, ckpt_dir, device: str = "cpu", desc: str = "detector") -> dict:
    """Train ``job`` (or load its finished checkpoint) and evaluate on ``splits["test"]``: one flat row
    (COCO metrics, training seconds and final loss; with ``validate`` the curve as JSON, the last val AP, the
    gain over the last quarter and ``converged``; with ``bootstrap`` the 2.5/97.5% quantiles of AP over test-image
    resamples, ``AP_q025``/``AP_q975``, and the basic bootstrap interval ``AP_lo``/``AP_hi`` built from them)."""
    val = splits["val"] if job.validate else None
    f = fit(job.cfg, job.tcfg, splits["train"], ckpt_dir, desc=desc, build=_builder(job), val=val, device=device)
    dets = predict_all(f.model, splits["test"], device=device, precision=job.tcfg.precision)
    m = coco_metrics(splits["test"], dets)
    row = {**{k: v for k, v in m.items() if not k.startswith("AP_")}, "train_seconds": f.seconds,
           "final_loss": float(f.history["loss"].iloc[-10:].mean())}
    if job.validate:
        row.update(val_AP=float(f.curve["AP"].iloc[-1]), val_gain=f.convergence["gain"],
                   converged=bool(f.convergence["converged"]), curve=curve_json(f.curve))
    if job.bootstrap:
        boot = bootstrap_ap(splits["test"], dets, job.bootstrap, seed=job.tcfg.seed)[0]
        row.update(AP_q025=float(np.quantile(boot, 0.025)), AP_q975=float(np.quantile(boot, 0.975)))
        row["AP_lo"], row["AP_hi"] = basic_interval(row["AP"], row["AP_q025"], row["AP_q975"])
        if job.keep_boot:
            row["AP_boot"] = [round(float(v), 6) for v in boot]
    return row


def _train_item(item: tuple, data: dict, ckpt_dir, device: str) -> dict:
    dataset, job = item
    return train_evaluate(job, data[dataset], ckpt_dir, device=device, desc=dataset)


def train_population(run, items: list[tuple[str, DetectorJob]], data: dict, cache: str, checkpoints: str,
                     desc: str = "detectors") -> list[dict]:
    """:func:`train_evaluate` for every ``(dataset, job)`` of ``items`` through ``run.map`` (``data[dataset]`` its
    splits), each row cached in ``run.cache(cache)`` under the job's content key, checkpoints under
    ``run.checkpoints(checkpoints)``. Returns the rows in the order of ``items``."""
    unknown = sorted({d for d, _ in items} - set(data))
    if unknown:
        raise ValueError(f"items name datasets {unknown} that data lacks (it has {sorted(data)})")
    return run.map(_train_item, items, key=lambda it: it[1].key(data[it[0]]),
                   cache=run.cache(cache, fields=population_fields([j for _, j in items])),
                   shared={"data": data, "ckpt_dir": run.checkpoints(checkpoints), "device": run.device}, desc=desc)


def boot_matrix(rows, seeds) -> np.ndarray:
    """[seeds, resamples]: the per-resample test AP (``AP_boot``) of each seed's row (``rows`` indexed by seed)."""
    import json

    return np.stack([np.asarray(json.loads(v) if isinstance(v, str) else v, dtype=float)
                     for v in (rows.loc[s, "AP_boot"] for s in seeds)])


def paired_difference(a, b, sigma_seed: float, schedule: float = 1.0):
    """AP of detector ``a`` minus ``b`` (DataFrames indexed by training seed, with ``AP`` and the per-resample
    ``AP_boot`` of jobs with ``keep_boot``: two detectors of a seed share their test-image resamples) as a
    :class:`~detdesign.claims.rules.Difference` whose interval includes seed variance
    (:func:`detdesign.stats.difference`, ``sigma_seed`` the instrument's pooled seed SD)."""
    from detdesign.stats import difference

    seeds = sorted(set(a.index) & set(b.index))
    if not seeds:
        raise ValueError(f"no shared training seed: {sorted(a.index)} vs {sorted(b.index)}")
    per_seed = [float(a.loc[s, "AP"] - b.loc[s, "AP"]) for s in seeds]
    return difference(per_seed, boot_matrix(a, seeds) - boot_matrix(b, seeds), sigma_seed, schedule)
