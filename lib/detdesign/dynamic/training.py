"""DynamicDet training: stage 1 trains both detectors jointly (L1 + L2), stage 2 only the router.

Stage 1 reuses :func:`detdesign.detection.fit` (same loop, checkpoints, resume). Stage 2 follows the official
recipe on a small scale: detectors frozen (eval mode), per-image losses L1, L2 detached,
Delta = median over training images of (L1 - L2), loss ``(1 - phi)(L1 - Delta/2) + phi (L2 + Delta/2)``,
AdamW with weight decay 0.005. The router's input is standardised with the training images' statistics
(see :class:`AdaptiveRouter`). Because the detectors are frozen, the router's input (the pooled F1 of each
training image, without augmentation) and the losses are computed once, and the router trains on them for
``epochs`` passes; the official code instead streams augmented images for 2 epochs at batch 64 (COCO).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pandas as pd
import torch

from detdesign.detection.data import Preprocessed
from detdesign.dynamic.model import AdaptiveRouter, DynamicConfig, DynamicDetector, router_loss
from detdesign.training import optimizer_step


@dataclass(frozen=True)
class RouterTrainConfig:
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.005
    seed: int = 0


def build_dynamic(cfg: DynamicConfig, seed: int = 0) -> DynamicDetector:
    """A seeded :class:`DynamicDetector`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DynamicDetector(cfg)


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


def train_router(model: DynamicDetector, data: Preprocessed, cfg: RouterTrainConfig):
    """Stage 2 on ``data``; returns (history DataFrame, Delta). Only ``model.router`` changes."""
    pooled, l1, l2 = router_inputs(model, data)
    delta = statistics.median((l1 - l2).tolist())
    model.router.set_normalisation(pooled)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.router.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(model.router.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    history = []
    model.router.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(pooled), generator=g)
        total = 0.0
        for s in range(0, len(perm), cfg.batch_size):
            idx = perm[s:s + cfg.batch_size]
            loss = router_loss(model.router.from_pooled(pooled[idx]), l1[idx], l2[idx], delta)
            optimizer_step(loss, opt)
            total += loss.item() * len(idx)
        history.append({"epoch": epoch, "loss": total / len(perm)})
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return pd.DataFrame(history), delta
