"""One training loop for every detector in the project: seeded, resumable, with per-image losses.

AdamW (or SGD with momentum 0.9) with linear warm-up and cosine decay per iteration, gradient clipping at
10, a tqdm bar showing the loss, and a checkpoint after every epoch (plain state dicts; loaded with
``weights_only=True``). With ``ckpt_dir`` set, a rerun resumes from the last completed epoch and returns the
same history. On CPU with the same seed the run is bit-identical.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

import pandas as pd
import torch

from detdesign.detection.config import TrainConfig
from detdesign.detection.data import Preprocessed, TrainView, augmenter, collate
from detdesign.detection.model import build_detector
from detdesign.progress import progress


def _optimizer(model, cfg: TrainConfig):
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {cfg.optimizer!r}")


def _schedule(opt, cfg: TrainConfig, total: int):
    def factor(it: int) -> float:
        if it < cfg.warmup_iters:
            return (it + 1) / cfg.warmup_iters
        frac = (it - cfg.warmup_iters) / max(1, total - cfg.warmup_iters)
        return 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(model, data: Preprocessed, cfg: TrainConfig, ckpt_dir: str | os.PathLike | None = None,
          desc: str = "train") -> pd.DataFrame:
    """Train ``model`` on ``data``; return the per-iteration history (epoch, iter, loss, cls, box, ctr, lr)."""
    if len(data) == 0:
        raise ValueError("empty image list: nothing to train on")
    loader = torch.utils.data.DataLoader(
        TrainView(data, augmenter(cfg.flip, cfg.scale_jitter)), batch_size=cfg.batch_size, shuffle=True,
        collate_fn=collate, generator=torch.Generator().manual_seed(cfg.seed), drop_last=len(data) > cfg.batch_size)
    per_epoch = len(loader) if cfg.max_iters_per_epoch is None else min(len(loader), cfg.max_iters_per_epoch)
    opt = _optimizer(model, cfg)
    sched = _schedule(opt, cfg, per_epoch * cfg.epochs)
    history, start, rng = [], 0, None
    ckpt = Path(ckpt_dir) / "last.pt" if ckpt_dir is not None else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, start, rng = state["history"], state["epoch"], state["rng"]
        loader.generator.set_state(state["loader_rng"])
    with torch.random.fork_rng(devices=[]):  # augmentation draws from a seeded, private RNG stream
        torch.manual_seed(cfg.seed) if rng is None else torch.set_rng_state(rng)
        _epochs(model, loader, opt, sched, cfg, per_epoch, start, history, ckpt, desc)
    return pd.DataFrame(history)


def _epochs(model, loader, opt, sched, cfg, per_epoch, start, history, ckpt, desc) -> None:
    for epoch in range(start, cfg.epochs):
        model.train()
        bar = progress(total=per_epoch, desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}", leave=False)
        for it, (images, targets) in enumerate(loader):
            if it >= per_epoch:
                break
            loss, per = model.loss(images, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            history.append({"epoch": epoch, "iter": epoch * per_epoch + it, "loss": loss.item(),
                            **{k: v.mean().item() for k, v in per.items() if k != "loss"},
                            "lr": opt.param_groups[0]["lr"]})
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            _save(ckpt, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(), "history": history, "epoch": epoch + 1,
                         "rng": torch.get_rng_state(), "loader_rng": loader.generator.get_state()})


@torch.no_grad()
def per_image_losses(model, data: Preprocessed, batch_size: int = 8) -> torch.Tensor:
    """Detached per-image losses of ``data`` without augmentation, model in eval mode ([N])."""
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        images = data.images[start:start + batch_size]
        targets = data.targets[start:start + batch_size]
        out.append(model.loss(images, targets)[1]["loss"])
    return torch.cat(out)


def run_key(*parts) -> str:
    """A short, stable key of configs and data (dataclass reprs are deterministic): names a checkpoint dir."""
    return hashlib.sha1("|".join(repr(p) for p in parts).encode()).hexdigest()[:12]


def fit(cfg, tcfg: TrainConfig, data: Preprocessed, base_dir: str | os.PathLike, desc: str = "train",
        build=build_detector):
    """Build ``cfg`` (seeded by ``tcfg.seed``), train it with checkpoints, return (model, history, seconds).

    ``build(cfg, seed)`` makes the model (default :func:`build_detector`; DynamicDet passes its own).
    The checkpoint directory is ``base_dir/<run_key(cfg, tcfg, image ids, size, architecture)>`` (the
    architecture = the names and shapes of the model's state dict), so a changed config or a code change to
    the model never resumes a stale run, and a finished run is loaded instead of retrained (its recorded
    training time is returned). ``seconds`` is the wall time of all epochs, summed over interrupted sessions.
    """
    model = build(cfg, seed=tcfg.seed)
    ids = tuple(t["image_id"] for t in data.targets)
    arch = tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())
    run = Path(base_dir) / run_key(cfg, tcfg, ids, data.size, arch)
    meta_path = run / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"seconds": 0.0}
    t0 = time.perf_counter()
    history = train(model, data, tcfg, ckpt_dir=run, desc=desc)
    meta["seconds"] += time.perf_counter() - t0
    meta["epochs"] = tcfg.epochs
    run.mkdir(parents=True, exist_ok=True)
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, meta_path)
    return model.eval(), history, meta["seconds"]
