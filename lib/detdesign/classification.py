"""A small, seeded image-classification loop (CIFAR-10 scaling experiments of notebook 04).

SGD with Nesterov momentum 0.9, linear warm-up then cosine decay per iteration (the shared
:func:`detdesign.training.warmup_cosine` and :func:`~detdesign.training.optimizer_step`), label smoothing 0.1, weight
decay 5e-4 (not on BN/bias), random crop (4 px zero padding) and horizontal flip on the 32x32 tensors, then
bilinear resizing to ``input_size`` (resolution scaling feeds the *same* images upsampled, as EfficientNet's
resolution axis does on a fixed dataset). Deterministic on CPU for a seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from detdesign.progress import progress
from detdesign.results import content_key
from detdesign.training import convergence, curve_json, optimizer_step, warmup_cosine


@dataclass(frozen=True)
class ClassifierTrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_iters: int = 20
    input_size: int = 32
    seed: int = 0
    max_iters_per_epoch: int | None = None

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.input_size < 8:
            raise ValueError(f"need epochs >= 1, batch_size >= 1, input_size >= 8; got {self}")


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random 4-px-padded crop and horizontal flip of [B, 3, 32, 32] (per image, seeded)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (b,), generator=g)
    dy = torch.randint(0, 9, (b,), generator=g)
    flip = torch.rand(b, generator=g) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
    out[flip] = out[flip].flip(-1)
    return out


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize to ``size`` px; antialiased when shrinking (a 16-px CIFAR-10 is a downsampled image, not a
    subsampled one), identical to plain bilinear when enlarging."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])


def train_classifier(model, x: torch.Tensor, y: torch.Tensor, cfg: ClassifierTrainConfig, desc: str = "train",
                     on_epoch=None):
    """Train ``model`` on normalised images ``x`` [N, 3, 32, 32] and labels ``y``; returns per-epoch losses.
    ``on_epoch(epoch, loss)`` (optional) is called after every epoch, the model back in train mode afterwards."""
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"need as many images as labels (> 0), got {len(x)} and {len(y)}")
    g = torch.Generator().manual_seed(cfg.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay,
                          "weight_decay": 0.0}], lr=cfg.lr, momentum=0.9, nesterov=True)
    per_epoch = math.ceil(len(x) / cfg.batch_size)
    if cfg.max_iters_per_epoch is not None:
        per_epoch = min(per_epoch, cfg.max_iters_per_epoch)
    sched = warmup_cosine(opt, cfg.warmup_iters, per_epoch * cfg.epochs)
    losses = []
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # dropout / stochastic depth draws
        for _ in progress(range(cfg.epochs), desc=desc, leave=False):
            perm = torch.randperm(len(x), generator=g)
            running = 0.0
            for it in range(per_epoch):
                idx = perm[it * cfg.batch_size:(it + 1) * cfg.batch_size]
                xb = _resize(_augment(x[idx], g), cfg.input_size)
                loss = F.cross_entropy(model(xb), y[idx], label_smoothing=cfg.label_smoothing)
                optimizer_step(loss, opt, sched)
                running += loss.item()
            losses.append(running / per_epoch)
            if on_epoch is not None:
                on_epoch(len(losses), losses[-1])
                model.train()
    return losses


@dataclass(frozen=True)
class ClassifierFit:
    """What :func:`fit_classifier` returns: per-epoch ``curve`` (epoch, loss, val accuracy ``acc``), its
    :func:`~detdesign.training.convergence` on ``acc`` and the training wall time (validation excluded)."""

    curve: pd.DataFrame
    convergence: dict
    seconds: float


def fit_classifier(model, x, y, cfg: ClassifierTrainConfig, val: tuple, desc: str = "train") -> ClassifierFit:
    """:func:`train_classifier` with the validation accuracy on ``val = (x_val, y_val)`` after every epoch, so a
    run's convergence is measured (gain of val accuracy over the last quarter of the schedule)."""
    rows, spent, t0 = [], 0.0, time.perf_counter()

    def on_epoch(epoch, loss):
        nonlocal spent, t0
        spent += time.perf_counter() - t0
        rows.append({"epoch": epoch, "loss": loss, "acc": accuracy(model, *val, input_size=cfg.input_size)})
        t0 = time.perf_counter()

    train_classifier(model, x, y, cfg, desc=desc, on_epoch=on_epoch)
    curve = pd.DataFrame(rows)
    return ClassifierFit(curve, convergence(curve, "acc"), spent)


@torch.no_grad()
def predict(model, x: torch.Tensor, input_size: int = 32, batch_size: int = 500) -> torch.Tensor:
    """Top-1 class of every image of ``x`` (eval mode, resized to ``input_size``), [N]."""
    model.eval()
    return torch.cat([model(_resize(x[s:s + batch_size], input_size)).argmax(1) for s in range(0, len(x), batch_size)])


def accuracy(model, x: torch.Tensor, y: torch.Tensor, input_size: int = 32, batch_size: int = 500) -> float:
    """Top-1 accuracy (eval mode) of ``model`` on ``x`` resized to ``input_size``."""
    return int((predict(model, x, input_size, batch_size) == y).sum()) / len(x)


def pack_correct(correct) -> str:
    """A per-image correctness vector (bool [N]) as a short hex string, for a cache row."""
    return np.packbits(np.asarray(correct, dtype=np.uint8)).tobytes().hex()


def unpack_correct(text: str, n: int) -> np.ndarray:
    """The bool [n] vector stored by :func:`pack_correct`."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))[:n].astype(bool)


# -- one CIFAR-10 training job of notebooks 04 (grid) and 06 (winners) ---------------------------------------------
TRAIN_FIELDS = ("test_acc", "correct", "curve", "converged", "gain", "train_seconds")


@dataclass(frozen=True)
class CifarRecipe:
    """The CIFAR-10 recipe of a population: training / validation / test images per class (``test_per_class``
    None: all 10,000), epochs, batch, peak learning rate and warm-up iterations (:class:`ClassifierTrainConfig`)."""

    train_per_class: int
    val_per_class: int
    test_per_class: int | None
    epochs: int
    batch_size: int
    lr: float
    warmup_iters: int

    @classmethod
    def of(cls, sizes) -> CifarRecipe:
        """The recipe of a profile's sizes (:class:`~detdesign.profiles.GridSizes` or ``ZenSearchSizes``)."""
        return cls(sizes.train_per_class, sizes.val_per_class, sizes.test_per_class, sizes.epochs, sizes.batch_size,
                   sizes.lr, sizes.warmup_iters)

    def parts(self) -> tuple:
        """The recipe as the tuple the published content keys were made of."""
        return (self.train_per_class, self.val_per_class, self.test_per_class, self.epochs, self.batch_size, self.lr,
                self.warmup_iters)


@dataclass(frozen=True)
class ClassifierJob:
    """One network trained with one seed: ``tag`` names the population ("grid-train", "zen-train"), ``net`` is
    what :func:`train_test`'s ``build`` turns into a module (a scaled EfficientNet config, a ZenNAS string),
    ``input_size`` its input (``None``: 32 px, not part of the key)."""

    tag: str
    label: str
    net: object
    seed: int
    recipe: CifarRecipe
    input_size: int | None = None

    def key(self) -> str:
        size = () if self.input_size is None else (self.input_size,)
        return content_key(self.tag, self.net, *size, self.seed, self.recipe.parts())


def train_test(job: ClassifierJob, data: dict, build) -> dict:
    """Train ``build(job.net)`` with ``job``'s recipe and seed (validation curve after every epoch) and test it on
    ``data["test"]``: test accuracy, the per-image correctness (packed), the curve as JSON, the last-quarter
    diagnostic and the training seconds (the row of :data:`TRAIN_FIELDS`)."""
    torch.manual_seed(job.seed)
    net = build(job.net)
    size = job.input_size or 32
    r = job.recipe
    cfg = ClassifierTrainConfig(epochs=r.epochs, batch_size=r.batch_size, lr=r.lr, seed=job.seed,
                                warmup_iters=r.warmup_iters, input_size=size)
    f = fit_classifier(net, *data["train"], cfg, val=data["val"], desc=f"{job.label} seed {job.seed}")
    xte, yte = data["test"]
    correct = (predict(net, xte, input_size=size) == yte).numpy()
    return {"test_acc": float(correct.mean()), "correct": pack_correct(correct),
            "curve": curve_json(f.curve), "converged": bool(f.convergence["converged"]),
            "gain": f.convergence["gain"], "train_seconds": f.seconds}


# -- accuracies on test-image resamples (paired: the same resamples for every network and seed) -------------
def correct_matrix(trained: pd.DataFrame, n: int) -> dict[int, pd.DataFrame]:
    """Per seed, test images x labels: whether each label's network classified each image correctly (``trained``:
    rows of :func:`train_test` with ``label``, ``seed`` and the packed ``correct``)."""
    return {seed: pd.DataFrame({r.label: unpack_correct(r.correct, n) for r in g.itertuples()})
            for seed, g in trained.groupby("seed")}


def seed_accuracy_resamples(correct: dict[int, pd.DataFrame], n_resamples: int, seed: int) -> dict[int, pd.DataFrame]:
    """Per training seed, the accuracy of every point on ``n_resamples`` test-image resamples (the same resamples for
    every seed and point: paired); row 0 is the full test set."""
    n = len(next(iter(correct.values())))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    out = {}
    for s, c in correct.items():
        v = c.to_numpy(float)
        out[s] = pd.DataFrame(np.vstack([v.mean(0, keepdims=True), np.stack([v[i].mean(0) for i in idx])]),
                              columns=c.columns)
    return out


def accuracy_resamples(correct: dict[int, pd.DataFrame], n_resamples: int, seed: int) -> pd.DataFrame:
    """Accuracy of every point, averaged over seeds, on ``n_resamples`` test-image resamples (the same resamples for
    every point and seed: paired). Row 0 is the full test set; columns are the points."""
    labels = list(next(iter(correct.values())).columns)
    share = np.mean([c[labels].to_numpy(float) for c in correct.values()], axis=0)  # [images, points]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(share), size=(n_resamples, len(share)))
    boot = np.vstack([share.mean(0, keepdims=True), np.stack([share[i].mean(0) for i in idx])])
    return pd.DataFrame(boot, columns=labels)
