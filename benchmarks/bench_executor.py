"""Benchmark: one population (NB201 cells x every registered proxy, notebook 02's job) on each executor.

Serial in this process (all torch threads), a local Dask cluster with 1 worker and with 2 workers (1 thread
per worker): wall time including the cluster's start, and a check that every executor returns identical
numbers. Prints a Markdown table. ``--cells N`` sets the population size (default 40).
"""

import argparse
import time

from detdesign import repro
from detdesign.arch.nb201_net import NB201Net
from detdesign.data import load_nb201
from detdesign.data.cifar import cifar_batch
from detdesign.data.nb201 import sample_cells
from detdesign.executor import ExecutorConfig, Pool, run_map
from detdesign.proxies import compute, list_proxies

PROXIES = tuple(list_proxies(networks="any"))


def score_cell(arch: str, data, proxies, seed: int) -> dict:
    """Every proxy on one NB201 cell (the job of notebook 02's population)."""
    net = NB201Net(arch, num_classes=10)
    x, _ = data
    return {p: compute(p, net, resolution=x.shape[-1], batch_size=len(x), seed=seed, data=data).value
            for p in proxies}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=40)
    args = ap.parse_args()
    threads = repro.deterministic()
    cells = sample_cells(load_nb201(), args.cells, 0)
    data = cifar_batch(64, 42)
    shared = {"data": data, "proxies": PROXIES, "seed": 42}
    print(f"{len(cells)} NB201 cells x {len(PROXIES)} proxies, batch 64; this process has {threads} threads\n")
    print("| executor | wall time (s) | cells/s | identical to serial |\n|---|---|---|---|")
    reference = None
    for label, cfg in (("serial (2 threads)", ExecutorConfig("serial")),
                       ("Dask LocalCluster, 1 worker x 1 thread", ExecutorConfig("processes", workers=1)),
                       ("Dask LocalCluster, 2 workers x 1 thread", ExecutorConfig("processes", workers=2))):
        pool = Pool()
        t0 = time.perf_counter()
        rows = run_map(score_cell, cells, cfg=cfg, pool=pool, shared=shared, show_progress=False)
        wall = time.perf_counter() - t0
        pool.close()
        values = [{p: r[p] for p in PROXIES} for r in rows]
        reference = reference or values
        print(f"| {label} | {wall:.1f} | {len(cells) / wall:.2f} | {values == reference} |")


if __name__ == "__main__":
    main()
