"""Benchmark: detector training throughput vs the bare forward+backward of the same network.

The bare step feeds a pre-stacked uint8 batch through the detector and back-propagates the sum of its raw
outputs; the full step is what ``detdesign.detection.train`` does (augmentation in the DataLoader, FCOS
targets and losses, clipping, AdamW step). Target: full / bare <= 1.5. Prints a Markdown table.
"""

import statistics
import time

import torch

from detdesign import repro
from detdesign.data import load_bccd
from detdesign.detection import DetectorConfig, TrainConfig, build_detector, preprocess
from detdesign.detection.data import TrainView, augmenter, collate

SIZES, BATCH, STEPS = (256, 384, 512), 8, 6


def bare(model, images) -> float:
    t0 = time.perf_counter()
    outs = model(images)
    sum(o.sum() for level in outs for o in level).backward()
    return time.perf_counter() - t0


def full(model, loader, opt) -> float:
    t0 = time.perf_counter()
    images, targets = next(loader)
    loss, _ = model.loss(images, targets)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    opt.step()
    return time.perf_counter() - t0


def main() -> None:
    threads = repro.deterministic()
    ds = load_bccd("train")
    print(f"batch {BATCH}, {threads} threads, median of {STEPS} steps after 1 warm-up\n")
    print("| input | bare fwd+bwd (s) | full train step (s) | ratio | train images/s |\n|---|---|---|---|---|")
    for size in SIZES:
        data = preprocess(ds, size)
        model = build_detector(DetectorConfig(image_size=size)).train()
        cfg = TrainConfig()
        loader = iter(torch.utils.data.DataLoader(TrainView(data, augmenter(cfg.flip, cfg.scale_jitter)),
                                                  batch_size=BATCH, shuffle=True, collate_fn=collate))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        images = data.images[:BATCH]
        bare(model, images)
        full(model, loader, opt)
        b = statistics.median(bare(model, images) for _ in range(STEPS))
        f = statistics.median(full(model, loader, opt) for _ in range(STEPS))
        print(f"| {size} | {b:.2f} | {f:.2f} | {f / b:.2f} | {BATCH / f:.1f} |")


if __name__ == "__main__":
    main()
