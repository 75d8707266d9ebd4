"""Benchmark: what scoring one candidate backbone costs, per proxy, against training it as a detector.

For the ResNet-18-like backbone and five equal-MACs samples: the wall time of ``maedet_entropy`` (analytic,
forward, paper), ``zen`` and building the network, at the notebook-03 proxy input (batch 8, 64 px), and one
detector training step at 256 px (batch 8). Prints a Markdown table of medians.
"""

import statistics
import time

from detdesign import repro
from detdesign.arch import ZenNet
from detdesign.data import load_bccd
from detdesign.detection import RESNET18_LIKE, DetectorConfig, preprocess, train_overhead
from detdesign.detection.backbone import Backbone
from detdesign.proxies import compute
from detdesign.search import cost, sample_allocations

CASES = {
    "maedet_entropy analytic": ("maedet_entropy", {"variant": "analytic"}),
    "maedet_entropy forward": ("maedet_entropy", {"variant": "forward"}),
    "maedet_entropy paper": ("maedet_entropy", {"variant": "paper", "feature_size": "log"}),
    "zen": ("zen", {}),
}


def main() -> None:
    threads = repro.deterministic()
    nets = [RESNET18_LIKE, *sample_allocations(5, cost(RESNET18_LIKE, 256).macs, 256, seed=0)]
    print(f"{len(nets)} backbones at ~{cost(RESNET18_LIKE, 256).macs / 1e6:.0f} MMACs (256 px), {threads} threads\n")
    print("| what | median ms per network |\n|---|---|")
    t = []
    for s in nets:
        t0 = time.perf_counter()
        Backbone(s)
        t.append(time.perf_counter() - t0)
    print(f"| build the backbone | {1e3 * statistics.median(t):.1f} |")
    for label, (name, opts) in CASES.items():
        t = []
        for s in nets:
            net = ZenNet(s, num_classes=1) if name == "zen" else Backbone(s)
            t.append(compute(name, net, resolution=64, batch_size=8, **opts).seconds)
        print(f"| {label} | {1e3 * statistics.median(t):.1f} |")
    step = train_overhead(DetectorConfig(image_size=256), preprocess(load_bccd("train"), 256), steps=4)
    print(f"| one detector training step (256 px, batch 8) | {1e3 * step['full_s']:.0f} |")


if __name__ == "__main__":
    main()
