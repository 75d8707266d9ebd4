"""The cached "train, evaluate, keep the numbers" step shared by every detector population (notebooks 03-05).

A :class:`DetectorJob` is one detector to train (config + schedule). :func:`train_evaluate` trains it with
:func:`~detdesign.detection.fit` (checkpointed, resumable) and returns a flat row of COCO test metrics, the
training time and loss, and, when a validation split is used, the convergence verdict of its validation curve.
:func:`train_population` runs many jobs through the run's executor (``run.map``), each cached under the job's
content key, so an interrupted or distributed population resumes and loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from detdesign.detection.config import DetectorConfig, TrainConfig
from detdesign.detection.evaluate import evaluate
from detdesign.detection.training import fit
from detdesign.results import content_key


@dataclass(frozen=True)
class DetectorJob:
    """One detector of a population: what to build and how to train it; ``validate`` records a val curve."""

    cfg: DetectorConfig
    tcfg: TrainConfig
    validate: bool = False

    def key(self, splits: dict) -> str:
        """The content key: config, schedule and split sizes (a validated job also keys on the val split)."""
        parts = (self.cfg, self.tcfg, len(splits["train"]), len(splits["test"]))
        return content_key(*parts, "val", len(splits["val"])) if self.validate else content_key(*parts)


def train_evaluate(job: DetectorJob, splits: dict, ckpt_dir, device: str = "cpu", desc: str = "detector") -> dict:
    """Train ``job`` (or load its finished checkpoint) and evaluate on ``splits["test"]``: one flat row."""
    val = splits["val"] if job.validate else None
    f = fit(job.cfg, job.tcfg, splits["train"], ckpt_dir, desc=desc, val=val, device=device)
    m = evaluate(f.model, splits["test"], device=device, precision=job.tcfg.precision)
    row = {**{k: v for k, v in m.items() if not k.startswith("AP_")}, "train_seconds": f.seconds,
           "final_loss": float(f.history["loss"].iloc[-10:].mean())}
    if job.validate:
        row.update(val_AP=float(f.curve["AP"].iloc[-1]), val_gain=f.convergence["gain"],
                   converged=bool(f.convergence["converged"]))
    return row


def train_population(run, jobs: list[DetectorJob], splits: dict, cache: str, checkpoints: str,
                     desc: str = "detectors") -> list[dict]:
    """:func:`train_evaluate` for every job through ``run.map``, cached in ``run.cache(cache)``."""
    return run.map(train_evaluate, jobs, key=lambda j: j.key(splits), cache=run.cache(cache),
                   shared={"splits": splits, "ckpt_dir": run.checkpoints(checkpoints), "device": run.device},
                   desc=desc)
