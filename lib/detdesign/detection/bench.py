"""Training-throughput measurements of a detector (benchmarks and notebook 00b/00c call these).

:func:`train_overhead` compares one full training step with the bare forward+backward of the same batch;
:func:`throughput` times full training steps under a precision / memory-format setting, so fp32 NCHW and
bf16 channels_last can be measured side by side in one process.
"""

from __future__ import annotations

import statistics
import time

import torch

from detdesign.detection.config import DetectorConfig
from detdesign.detection.data import Preprocessed, TrainView, augmenter, collate
from detdesign.detection.model import build_detector
from detdesign.stats import ratio_of_medians
from detdesign.training import autocast, memory_format, optimizer_step

MIN_PLAUSIBLE_RATIO = 0.9  # full step / bare forward+backward below this is physically impossible (timing noise)


def _batches(data: Preprocessed, batch_size: int, steps: int, seed: int):
    loader = torch.utils.data.DataLoader(
        TrainView(data, augmenter(True, (0.75, 1.25))), batch_size=batch_size, shuffle=True, collate_fn=collate,
        generator=torch.Generator().manual_seed(seed))
    return (b for _ in range(steps + 2) for b in loader)  # enough epochs even for a tiny split


def train_overhead(cfg: DetectorConfig, data: Preprocessed, batch_size: int = 8, steps: int = 4, seed: int = 0,
                   precision: str = "fp32", channels_last: bool = False) -> dict:
    """Median time of a full training step vs the bare forward+backward of the same batch size.

    Bare: a pre-stacked batch through the detector, backward of the sum of its raw outputs. Full: what
    :func:`detdesign.detection.train` does per iteration (augmenting DataLoader, FCOS targets and losses,
    clipping, AdamW step). Returns the median seconds of each, their ratio with a bootstrap interval over the
    repeats (``ratio_lo``/``ratio_hi``, :func:`detdesign.stats.ratio_of_medians`), training images/s, and the
    raw repeats (``bare_samples``/``full_samples``): a timing claim decides on the interval, not the point.
    The two are measured interleaved (bare, full, bare, full, ...) after two warm-up pairs; ``valid`` is False
    when the ratio is below :data:`MIN_PLAUSIBLE_RATIO` (the full step contains the bare pass, so such a ratio
    means the machine was busy or the timer failed: the claim must not decide on it).
    """
    fmt = memory_format(channels_last)
    model = build_detector(cfg, seed=seed).train().to(memory_format=fmt)
    batches = _batches(data, batch_size, steps, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = data.images[:batch_size].contiguous(memory_format=fmt)

    def bare() -> float:
        t0 = time.perf_counter()
        with autocast(precision):
            out = sum(o.float().sum() for level in model(images) for o in level)
        out.backward()
        return time.perf_counter() - t0

    def full() -> float:
        t0 = time.perf_counter()
        imgs, targets = next(batches)
        with autocast(precision):
            loss, _ = model.loss(imgs.contiguous(memory_format=fmt), targets)
        optimizer_step(loss, opt, None, model.parameters(), clip=10.0)
        return time.perf_counter() - t0

    bare(), full(), bare(), full()  # warm-up (oneDNN builds its kernels on the first calls)
    bs, fs = [], []
    for _ in range(steps):  # interleaved ABAB: drifting load hits both alike
        bs.append(bare())
        fs.append(full())
    b, f = statistics.median(bs), statistics.median(fs)
    ratio, lo, hi = ratio_of_medians(fs, bs, seed=seed)
    # the full step contains the bare forward+backward: a ratio below it is a failed measurement, not a result
    valid = ratio >= MIN_PLAUSIBLE_RATIO
    return {"bare_s": b, "full_s": f, "ratio": ratio, "ratio_lo": lo, "ratio_hi": hi, "valid": valid,
            "images_per_s": batch_size / f, "bare_samples": bs, "full_samples": fs}


def interleaved_throughput(cfg: DetectorConfig, data, settings: list[tuple[str, bool]], batch_size: int = 8,
                           rounds: int = 6, warmup: int = 2, seed: int = 0) -> list[dict]:
    """Full training steps of ``cfg`` under each ``(precision, channels_last)`` of ``settings``, measured
    *interleaved*: every setting has its own model, optimiser and loader (same seed, so the same batches), is
    warmed up ``warmup`` steps, then each of ``rounds`` rounds times one step of every setting, the order rotated
    by one per round. Drifting load (another process, turbo, caches) then hits every setting alike, and the
    order within a round cancels out; measuring one setting after the other is what read bf16 at 0.2x in one
    run and 1.3x in the next on the same machine.

    Returns one dict per setting: ``step_samples`` (seconds per round), ``step_s`` (median), ``images_per_s``,
    and ``speedup`` / ``speedup_lo`` / ``speedup_hi``: the median over rounds of the *paired* ratio
    ``step(settings[0]) / step(this)`` and its bootstrap interval over rounds."""
    import numpy as np

    if rounds < 1 or warmup < 0:
        raise ValueError(f"need rounds >= 1 and warmup >= 0, got {rounds}, {warmup}")
    arms = []
    for precision, cl in settings:
        fmt = memory_format(cl)
        model = build_detector(cfg, seed=seed).train().to(memory_format=fmt)
        arms.append((precision, fmt, model, torch.optim.AdamW(model.parameters(), lr=1e-4),
                     _batches(data, batch_size, rounds + warmup, seed)))

    def step(arm) -> float:
        precision, fmt, model, opt, batches = arm
        t0 = time.perf_counter()  # the loader is part of the step, as in detdesign.detection.train
        imgs, targets = next(batches)
        with autocast(precision):
            loss, _ = model.loss(imgs.contiguous(memory_format=fmt), targets)
        optimizer_step(loss, opt, None, model.parameters(), clip=10.0)
        return time.perf_counter() - t0

    for arm in arms:
        for _ in range(warmup):
            step(arm)
    times = np.zeros((rounds, len(arms)))
    for r in range(rounds):
        for j in [(r + k) % len(arms) for k in range(len(arms))]:
            times[r, j] = step(arms[j])
    rng = np.random.default_rng(seed)
    out = []
    for j in range(len(arms)):
        paired = times[:, 0] / times[:, j]
        boot = np.median(rng.choice(paired, size=(2000, rounds)), axis=1)
        out.append({"step_samples": times[:, j].tolist(), "step_s": float(np.median(times[:, j])),
                    "images_per_s": batch_size / float(np.median(times[:, j])), "speedup": float(np.median(paired)),
                    "speedup_lo": float(np.quantile(boot, 0.025)), "speedup_hi": float(np.quantile(boot, 0.975))})
    return out
