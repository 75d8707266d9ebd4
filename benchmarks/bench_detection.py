"""Benchmark: detector training throughput vs the bare forward+backward of the same network.

The bare step feeds a pre-stacked uint8 batch through the detector and back-propagates the sum of its raw
outputs; the full step is what ``detdesign.detection.train`` does (augmentation in the DataLoader, FCOS
targets and losses, clipping, AdamW step). Both are timed by ``detdesign.detection.train_overhead`` (the same
function notebook 00b reports). Target: full / bare <= 1.5. Prints a Markdown table.
"""

from detdesign import repro
from detdesign.data import load_bccd
from detdesign.detection import DetectorConfig, preprocess, train_overhead

SIZES, BATCH, STEPS = (256, 384, 512), 8, 6


def main() -> None:
    threads = repro.deterministic()
    ds = load_bccd("train")
    print(f"batch {BATCH}, {threads} threads, median of {STEPS} steps after 1 warm-up\n")
    print("| input | bare fwd+bwd (s) | full train step (s) | ratio | train images/s |\n|---|---|---|---|---|")
    for size in SIZES:
        r = train_overhead(DetectorConfig(image_size=size), preprocess(ds, size), batch_size=BATCH, steps=STEPS)
        print(f"| {size} | {r['bare_s']:.2f} | {r['full_s']:.2f} | {r['ratio']:.2f} | {r['images_per_s']:.1f} |")


if __name__ == "__main__":
    main()
