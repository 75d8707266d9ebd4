"""DynamicDet training: stage 1 trains both detectors jointly (L1 + L2), stage 2 only the router.

Stage 1 reuses :func:`detdesign.detection.fit` (same loop, checkpoints, resume). Stage 2 follows the official
recipe on a small scale, on images the detectors were not trained on (the official code trains the router on
COCO train, where a detector does not memorise its images; on a few hundred images it does, and the training
losses then say nothing about a test image): detectors frozen (eval mode), per-image losses L1, L2 detached,
Delta = median over training images of (L1 - L2), loss ``(1 - phi)(L1 - Delta/2) + phi (L2 + Delta/2)``,
AdamW with weight decay 0.005. The router's input is standardised with the training images' statistics
(see :class:`AdaptiveRouter`). Because the detectors are frozen, the router's input (the pooled F1 of each
training image, without augmentation) and the losses are computed once, and the router trains on them for
``epochs`` passes; the official code instead streams augmented images for 2 epochs at batch 64 (COCO).
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass

import pandas as pd
import torch
from scipy import stats

from detdesign.detection.config import TrainConfig
from detdesign.detection.data import Preprocessed
from detdesign.dynamic.model import AdaptiveRouter, DynamicConfig, DynamicDetector, router_loss
from detdesign.results import content_key
from detdesign.training import optimizer_step


@dataclass(frozen=True)
class DynamicJob:
    """Stage 1 of one dynamic detector: dataset name, the two-detector config and the schedule; its content key
    names the stage-1 cache row and checkpoint."""

    dataset: str
    cfg: DynamicConfig
    tcfg: TrainConfig

    def key(self, splits: dict) -> str:
        """Config, schedule and split sizes; a testbed-v2 training split (one with a ``source``) adds its identity
        (v1 keys, published before, stay as they were)."""
        train = splits["train"]
        extra = (train.identity(),) if getattr(train, "source", None) else ()
        return content_key("dynamic", self.cfg, self.tcfg, len(train), len(splits["val"]), *extra)


@dataclass(frozen=True)
class RouterTrainConfig:
    """Stage 2. ``holdout``: share of the router's images kept apart (a seeded draw) to choose the epoch by the
    rank correlation of phi with their held-out gain L1 - L2 (early stopping); 0 trains all ``epochs``."""

    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.005
    seed: int = 0
    holdout: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.holdout < 1.0:
            raise ValueError(f"holdout must be a share in [0, 1), got {self.holdout!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")


@dataclass
class RouterFit:
    """What :func:`train_router` returns: per-epoch ``history`` (epoch, loss, holdout_rho), the median ``delta``
    of L1 - L2 over the fitting images, the kept ``best_epoch`` and its held-out Spearman ``holdout_rho``."""

    history: pd.DataFrame
    delta: float
    best_epoch: int
    holdout_rho: float


def build_dynamic(cfg: DynamicConfig, seed: int = 0, first_ckpt=None) -> DynamicDetector:
    """A seeded :class:`DynamicDetector`. With ``cfg.frozen_first``, ``first_ckpt`` (the standalone detector's
    ``last.pt``, named by ``cfg.first_from``) gives detector 1 its weights: the EMA copy when the training kept
    one (the model it evaluated), else the raw weights. Without ``first_ckpt`` detector 1 stays at its
    initialisation, which is right only when the dynamic run's own checkpoint is restored next."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DynamicDetector(cfg)
    if first_ckpt is not None:
        if not cfg.frozen_first:
            raise ValueError("first_ckpt given but cfg.first_from is empty: set first_from to the checkpoint's key "
                             "so that the run's content key says which detector 1 it froze")
        from pathlib import Path

        path = Path(first_ckpt)
        if path.parent.name != cfg.first_from:
            raise ValueError(f"first_ckpt {path} is not the checkpoint cfg.first_from names ({cfg.first_from!r})")
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_first(state.get("ema") or state["model"])
    return model


@torch.no_grad()
def router_inputs(model: DynamicDetector, data: Preprocessed, batch_size: int = 8):
    """Pooled F1 [N, d], L1 [N], L2 [N] of every image (eval mode, no augmentation)."""
    model.eval()
    pooled, l1, l2 = [], [], []
    for s in range(0, len(data), batch_size):
        images, targets = data.images[s:s + batch_size], data.targets[s:s + batch_size]
        f1, outs1, outs2 = model.heads(images)
        pooled.append(AdaptiveRouter.pool(f1))
        l1.append(model.first.head.loss(outs1, targets)[1]["loss"])
        l2.append(model.second.head.loss(outs2, targets)[1]["loss"])
    return torch.cat(pooled), torch.cat(l1), torch.cat(l2)


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    rho = stats.spearmanr(a.numpy(), b.numpy()).statistic if len(a) >= 3 else float("nan")
    return float(rho) if rho == rho else float("nan")


def train_router(model: DynamicDetector, data: Preprocessed, cfg: RouterTrainConfig) -> RouterFit:
    """Stage 2 on ``data`` (images the detectors were *not* trained on: their losses are what a test image
    will show). Only ``model.router`` changes; with ``cfg.holdout`` the epoch whose router ranks the held-out
    images' gain best (Spearman) is kept, so the router stops before it saturates or memorises."""
    pooled, l1, l2 = router_inputs(model, data)
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(pooled), generator=g)
    n_hold = round(cfg.holdout * len(pooled))
    fit_idx, hold_idx = order[n_hold:], order[:n_hold]
    if len(fit_idx) == 0:
        raise ValueError(f"no images left to fit the router: {len(pooled)} images, holdout {cfg.holdout}")
    delta = statistics.median((l1[fit_idx] - l2[fit_idx]).tolist())
    model.router.set_normalisation(pooled[fit_idx])
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.router.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(model.router.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history, best = [], (-math.inf, -1, None)
    gain_hold = (l1 - l2)[hold_idx]
    for epoch in range(cfg.epochs):
        model.router.train()
        perm = fit_idx[torch.randperm(len(fit_idx), generator=g)]
        total = 0.0
        for s in range(0, len(perm), cfg.batch_size):
            idx = perm[s:s + cfg.batch_size]
            loss = router_loss(model.router.from_pooled(pooled[idx]), l1[idx], l2[idx], delta)
            optimizer_step(loss, opt)
            total += loss.item() * len(idx)
        model.router.eval()
        with torch.no_grad():
            rho = _spearman(model.router.logit_from_pooled(pooled[hold_idx]), gain_hold) if n_hold else float("nan")
        history.append({"epoch": epoch + 1, "loss": total / len(perm), "holdout_rho": rho})
        score = rho if rho == rho else -math.inf
        if n_hold and score > best[0]:
            best = (score, epoch + 1, copy.deepcopy(model.router.state_dict()))
    if n_hold and best[2] is not None:
        model.router.load_state_dict(best[2])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    best_epoch = best[1] if n_hold and best[2] is not None else cfg.epochs
    return RouterFit(pd.DataFrame(history), delta, best_epoch, best[0] if best[1] > 0 else float("nan"))
