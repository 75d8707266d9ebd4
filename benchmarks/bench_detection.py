"""Benchmark: detector training throughput, and fp32 vs channels_last vs bf16 side by side in one process.

The bare step feeds a pre-stacked uint8 batch through the detector and back-propagates the sum of its raw
outputs; the full step is what ``detdesign.detection.train`` does (augmentation in the DataLoader, FCOS
targets and losses, clipping, AdamW step). Both are timed by ``detdesign.detection.train_overhead`` (the same
function notebooks 00b and 00c report). Prints two Markdown tables: the data-pipeline overhead per input size
(fp32), and images/s per precision / memory format at 256 px.
"""

from detdesign import repro
from detdesign.data import load_bccd
from detdesign.detection import DetectorConfig, preprocess, train_overhead
from detdesign.training import bf16_is_fast

SIZES, BATCH, STEPS = (256, 384, 512), 8, 6


def main() -> None:
    threads = repro.deterministic()
    ds = load_bccd("train")
    print(f"batch {BATCH}, {threads} threads, median of {STEPS} steps after 1 warm-up\n")
    print("| input | bare fwd+bwd (s) | full train step (s) | ratio | train images/s |\n|---|---|---|---|---|")
    for size in SIZES:
        r = train_overhead(DetectorConfig(image_size=size), preprocess(ds, size), batch_size=BATCH, steps=STEPS)
        print(f"| {size} | {r['bare_s']:.2f} | {r['full_s']:.2f} | {r['ratio']:.2f} | {r['images_per_s']:.1f} |")
    data = preprocess(ds, 256)
    print(f"\nbf16 has fast kernels here: {bf16_is_fast('cpu')}\n")
    print("| setting (256 px) | full train step (s) | train images/s | vs fp32 |\n|---|---|---|---|")
    base = None
    for precision, cl in (("fp32", False), ("fp32", True), ("bf16", True)):
        r = train_overhead(DetectorConfig(image_size=256), data, batch_size=BATCH, steps=STEPS, precision=precision,
                           channels_last=cl)
        base = base or r["images_per_s"]
        label = precision + (" channels_last" if cl else "")
        print(f"| {label} | {r['full_s']:.2f} | {r['images_per_s']:.1f} | {r['images_per_s'] / base:.2f}x |")


if __name__ == "__main__":
    main()
