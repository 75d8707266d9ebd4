"""Benchmark: time of one Zen-Score draw vs the two forward passes it needs (target ratio <= 1.2).

Run with `make bench` (or `python benchmarks/bench_zen.py`). Networks: the plain nets of notebook 01 and
the official ZenNet-1M CIFAR structure with residual links removed, at batch 32 / resolution 32 (the
notebook's full-profile setting) on this machine's CPU threads. Prints a Markdown table for the README.
"""

import statistics
import time

import torch

from detdesign import repro
from detdesign.arch import ZenNet
from detdesign.arch.structures import plain_structure
from detdesign.proxies import compute

ZENNET_1M = ("SuperConvK3BNRELU(3,88,1,1)SuperResK1K7K1(88,120,1,16,1)SuperResK1K7K1(120,192,2,16,3)"
             "SuperResK1K5K1(192,224,1,24,4)SuperResK1K5K1(224,96,2,24,2)SuperResK1K3K1(96,168,2,40,3)"
             "SuperResK1K3K1(168,112,1,48,3)SuperConvK1BNRELU(112,512,1,1)")
NETS = {"plain d4 w32": plain_structure(4, 32), "plain d12 w96": plain_structure(12, 96),
        "ZenNet-1M (no reslink)": ZENNET_1M}
B, R, RUNS = 32, 32, 7


def two_forwards(net: ZenNet) -> float:
    x, y = torch.randn(B, 3, R, R), torch.randn(B, 3, R, R)
    net.train()
    t0 = time.perf_counter()
    with torch.no_grad():
        net.forward_pre_gap(x)
        net.forward_pre_gap(y)
    return time.perf_counter() - t0


def main() -> None:
    threads = repro.deterministic()
    print(f"batch {B}, resolution {R}, {threads} threads, median of {RUNS}\n")
    print("| network | 2 forwards (ms) | Zen-Score (ms) | ratio |\n|---|---|---|---|")
    for name, s in NETS.items():
        net = ZenNet(s, 10, no_reslink=True)
        two_forwards(net)
        base = statistics.median(two_forwards(net) for _ in range(RUNS))
        zen = statistics.median(compute("zen", net, resolution=R, batch_size=B, seed=i).seconds
                                for i in range(RUNS))
        print(f"| {name} | {base * 1e3:.1f} | {zen * 1e3:.1f} | {zen / base:.2f} |")


if __name__ == "__main__":
    main()
