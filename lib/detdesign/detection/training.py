"""One training loop for every detector in the project: seeded, resumable, with a validation curve.

AdamW (or SGD with momentum 0.9) with the shared warm-up + cosine schedule (:mod:`detdesign.training`),
gradient clipping at 10, optional bf16 autocast + channels_last (``TrainConfig.precision`` /
``channels_last``), an optional weight EMA (``TrainConfig.ema``; the returned model holds the averaged
weights), a tqdm bar showing the loss, validation AP after every ``eval_every`` epochs when ``val`` is given,
and a checkpoint after every epoch (plain state dicts; loaded with ``weights_only=True``). With ``ckpt_dir``
set, a rerun resumes from the last completed epoch and returns the same history and curve. On CPU with the
same seed the run is bit-identical.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from detdesign.atomic import atomic_path
from detdesign.detection.config import TrainConfig
from detdesign.detection.data import Preprocessed, TrainView, augmenter, collate
from detdesign.detection.model import build_detector
from detdesign.progress import progress
from detdesign.results import content_key
from detdesign.training import EMA, autocast, convergence, memory_format, optimizer_step, warmup_cosine


@dataclass
class Trained:
    """What :func:`train` returns: per-iteration ``history`` and the per-evaluation validation ``curve``."""

    history: pd.DataFrame
    curve: pd.DataFrame
    epochs_run: int = 0  # epochs trained by this call (0 when a finished checkpoint was loaded)
    seconds: float = 0.0  # wall time of every epoch (and its validation) over all segments, from the checkpoint


@dataclass
class Fit:
    """What :func:`fit` returns: the trained model (EMA weights when enabled, eval mode), its history and
    validation curve, the training wall time summed over resumed segments, and :func:`convergence` of the curve."""

    model: torch.nn.Module
    history: pd.DataFrame
    curve: pd.DataFrame
    seconds: float
    convergence: dict


def _optimizer(model, cfg: TrainConfig):
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {cfg.optimizer!r}")


def _save(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=True)
    except Exception as err:  # a truncated or foreign file: name it and say how to recover
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: truncated, damaged or not a "
                         "checkpoint of this package); delete it to retrain from the start") from None


def _check_state(path: Path, state: dict, cfg: TrainConfig) -> None:
    """Refuse a checkpoint that cannot be this training's: an epoch outside 0..cfg.epochs, or non-finite weights."""
    epoch = state.get("epoch") if isinstance(state, dict) else None
    if not isinstance(epoch, int) or not 0 <= epoch <= cfg.epochs:
        raise ValueError(f"checkpoint {path} records epoch {epoch!r}, outside 0..{cfg.epochs} of this schedule; "
                         "delete it to retrain from the start")
    bad = [k for k, v in state.get("model", {}).items() if torch.is_tensor(v) and v.is_floating_point()
           and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"checkpoint {path} holds non-finite weights ({bad[:3]}{'...' if len(bad) > 3 else ''}); "
                         "delete it to retrain from the start")


def _read_meta(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"training record {path} is damaged ({err}); delete its folder {path.parent} to retrain "
                         "from the start") from None
    if not isinstance(meta, dict):
        raise ValueError(f"training record {path} must hold a JSON object; delete {path.parent} to retrain")
    return meta


def _val_row(model, val: Preprocessed, epoch: int, device: str, precision: str) -> dict:
    from detdesign.detection.evaluate import evaluate

    m = evaluate(model, val, device=device, precision=precision)
    return {"epoch": epoch, "AP": m["AP"], "AP50": m["AP50"]}


class _Loop:
    """The state of one training: model, optimiser, schedule, EMA, loader, and what has been recorded."""

    def __init__(self, model, data: Preprocessed, cfg: TrainConfig, device: str):
        self.model, self.cfg, self.device = model, cfg, device
        self.fmt = memory_format(cfg.channels_last)
        model.to(device=device, memory_format=self.fmt)
        self.loader = torch.utils.data.DataLoader(
            TrainView(data, augmenter(cfg.flip, cfg.scale_jitter)), batch_size=cfg.batch_size, shuffle=True,
            collate_fn=collate, generator=torch.Generator().manual_seed(cfg.seed),
            drop_last=len(data) > cfg.batch_size)
        n = len(self.loader)
        self.per_epoch = n if cfg.max_iters_per_epoch is None else min(n, cfg.max_iters_per_epoch)
        self.opt = _optimizer(model, cfg)
        self.sched = warmup_cosine(self.opt, cfg.warmup_iters, self.per_epoch * cfg.epochs)
        self.ema = EMA(model, cfg.ema) if cfg.ema is not None else None
        self.history, self.curve, self.epoch, self.rng = [], [], 0, None
        self.seconds = 0.0  # training wall time so far, saved with every checkpoint (survives a kill)

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "history": self.history, "curve": self.curve,
                "epoch": self.epoch, "rng": torch.get_rng_state(), "loader_rng": self.loader.generator.get_state(),
                "seconds": self.seconds,
                **({"ema": self.ema.state_dict()} if self.ema is not None else {})}

    def restore(self, state: dict, prior_seconds: float = 0.0) -> None:
        """Continue from ``state``; ``prior_seconds`` is the time of a checkpoint written before timing was saved."""
        self.seconds = float(state.get("seconds", prior_seconds))
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.history, self.curve = state["history"], state.get("curve", [])
        self.epoch, self.rng = state["epoch"], state["rng"]
        self.loader.generator.set_state(state["loader_rng"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])

    def eval_model(self):
        return self.ema.module if self.ema is not None else self.model

    def run_epoch(self, desc: str) -> None:
        model, cfg = self.model, self.cfg
        model.train()
        if hasattr(self.loader.dataset.data, "set_epoch"):  # online scenes: a fresh draw every epoch
            self.loader.dataset.data.set_epoch(self.epoch)
        bar = progress(total=self.per_epoch, desc=f"{desc} epoch {self.epoch + 1}/{cfg.epochs}", leave=False)
        for it, (images, targets) in enumerate(self.loader):
            if it >= self.per_epoch:
                break
            images = images.to(self.device).contiguous(memory_format=self.fmt)
            targets = [{**t, "boxes": t["boxes"].to(self.device), "labels": t["labels"].to(self.device)}
                       for t in targets]
            with autocast(cfg.precision, self.device):
                loss, per = model.loss(images, targets)
            if not torch.isfinite(loss):
                raise ValueError(f"{desc}: the training loss is {loss.item()} at epoch {self.epoch + 1}, step {it + 1} "
                                 "(non-finite images or boxes, or a learning rate too high); nothing after the last "
                                 "checkpoint was kept")
            optimizer_step(loss, self.opt, self.sched, model.parameters(), clip=10.0)
            if self.ema is not None:
                self.ema.update(model)
            self.history.append({"epoch": self.epoch, "iter": self.epoch * self.per_epoch + it, "loss": loss.item(),
                                 **{k: v.float().mean().item() for k, v in per.items() if k != "loss"},
                                 "lr": self.opt.param_groups[0]["lr"]})
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        self.epoch += 1


def train(model, data: Preprocessed, cfg: TrainConfig, ckpt_dir: str | os.PathLike | None = None,
          desc: str = "train", val: Preprocessed | None = None, device: str = "cpu",
          prior_seconds: float = 0.0) -> Trained:
    """Train ``model`` on ``data``: per-iteration history (epoch, iter, loss, cls, box, ctr, lr) and, with
    ``val``, the validation curve (epoch, AP, AP50). With cfg.ema the model ends holding the EMA weights.

    The wall time of each epoch is added to the checkpoint as it is written, so ``Trained.seconds`` is the time
    of every segment of a resumed run (a kill loses at most the unfinished epoch) and loading adds nothing."""
    if len(data) == 0:
        raise ValueError("empty image list: nothing to train on")
    loop = _Loop(model, data, cfg, device)
    ckpt = Path(ckpt_dir) / "last.pt" if ckpt_dir is not None else None
    if ckpt is not None and ckpt.exists():
        state = _load(ckpt)
        _check_state(ckpt, state, cfg)
        loop.restore(state, prior_seconds)
    start = loop.epoch
    with torch.random.fork_rng(devices=[]):  # augmentation draws from a seeded, private RNG stream
        torch.manual_seed(cfg.seed) if loop.rng is None else torch.set_rng_state(loop.rng)
        while loop.epoch < cfg.epochs:
            t0 = time.perf_counter()
            loop.run_epoch(desc)
            if val is not None and (loop.epoch % cfg.eval_every == 0 or loop.epoch == cfg.epochs):
                loop.curve.append(_val_row(loop.eval_model(), val, loop.epoch, device, cfg.precision))
            loop.seconds += time.perf_counter() - t0
            if ckpt is not None:
                ckpt.parent.mkdir(parents=True, exist_ok=True)
                _save(ckpt, loop.state())
    if loop.ema is not None:
        model.load_state_dict(loop.ema.module.state_dict())
    return Trained(pd.DataFrame(loop.history), pd.DataFrame(loop.curve, columns=["epoch", "AP", "AP50"]),
                   loop.epoch - start, loop.seconds)


def run_dir(model, cfg, tcfg: TrainConfig, data, base_dir: str | os.PathLike, val=None) -> Path:
    """The checkpoint folder of one training under ``base_dir`` (what :func:`fit` writes): the content key of the
    config, schedule, training data, architecture (``model``'s state-dict names and shapes) and validation ids."""
    arch = tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())
    parts = (cfg, tcfg, *data.identity(), arch)
    if val is not None:
        parts += (tuple(t["image_id"] for t in val.targets), val.size)
    return Path(base_dir) / content_key(*parts)


def fit(cfg, tcfg: TrainConfig, data: Preprocessed, base_dir: str | os.PathLike, desc: str = "train",
        build=build_detector, val: Preprocessed | None = None, device: str = "cpu") -> Fit:
    """Build ``cfg`` (seeded by ``tcfg.seed``), train it with checkpoints, return a :class:`Fit`.

    ``build(cfg, seed)`` makes the model (default :func:`build_detector`; DynamicDet passes its own).
    The checkpoint directory is ``base_dir/<content_key(cfg, tcfg, image ids, size, architecture)>`` (the
    architecture = the names and shapes of the model's state dict; validation image ids when ``val`` is
    given), so a changed config or a code change to the model never resumes a stale run, and a finished run
    is loaded instead of retrained. ``seconds`` sums the wall time of every training segment (an interrupted
    run adds the time of each session; loading a finished run adds nothing).
    """
    model = build(cfg, seed=tcfg.seed)
    run = run_dir(model, cfg, tcfg, data, base_dir, val)
    meta_path = run / "meta.json"
    meta = _read_meta(meta_path)
    trained = train(model, data, tcfg, ckpt_dir=run, desc=desc, val=val, device=device,
                    prior_seconds=float(meta.get("seconds", 0.0)))
    if trained.epochs_run:
        meta.setdefault("segment_epochs", []).append(trained.epochs_run)
    meta.update(seconds=trained.seconds, epochs=tcfg.epochs)
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta))
    return Fit(model.eval(), trained.history, trained.curve, meta["seconds"], convergence(trained.curve))
