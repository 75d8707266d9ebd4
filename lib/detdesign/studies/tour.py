"""Notebook ``00_tour``: the data, a tiny network measured, and two data facts checked against the papers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detdesign.arch import ZenNet
from detdesign.measure import count_flops, count_params, measure_latency

TINY = ("SuperConvK3BNRELU(3,16,1,1)SuperResK3K3(16,32,2,16,1)SuperResK3K3(32,64,2,32,1)"
        "SuperConvK1BNRELU(64,128,1,1)")
OFFICIAL_CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
NB201_BEST_C10 = 94.37  # NAS-Bench-201 paper (Dong & Yang, ICLR 2020): optimum CIFAR-10 test accuracy


def channel_means(images: np.ndarray) -> tuple[float, float, float]:
    """Per-channel mean of uint8 HWC images, in [0, 1]."""
    return tuple(float(v) for v in images.reshape(-1, 3).mean(axis=0) / 255.0)


def measure_tiny(runs: int, resolution: int = 32) -> pd.DataFrame:
    """Parameters, MACs (analytic and from torch's flop counter) and CPU latency of :data:`TINY`."""
    net = ZenNet(TINY, num_classes=10)
    flops = count_flops(net, (1, 3, resolution, resolution))
    lat = measure_latency(net, (1, 3, resolution, resolution), runs=runs, warmup=3)
    return pd.DataFrame([
        {"quantity": "parameters", "value": count_params(net)},
        {"quantity": "parameters (analytic)", "value": net.analytic_params()},
        {"quantity": "MACs (flop counter)", "value": flops.macs},
        {"quantity": "MACs (analytic)", "value": net.analytic_macs(resolution)},
        {"quantity": "FLOPs (= 2 x MACs)", "value": flops.flops},
        {"quantity": "latency, batch 1 (ms)", "value": round(lat.median_ms, 3)},
    ], dtype=object)


def claims(nb201: pd.DataFrame, means: tuple[float, float, float], n_images: int):
    """Two data facts: the NB201 optimum on CIFAR-10 and the CIFAR-10 channel means of our JPEG copy."""
    from detdesign.claims import Claim, Precondition, at_most, decided

    best = nb201.loc[nb201["c10_test"].idxmax()]
    diff = max(abs(a - b) for a, b in zip(means, OFFICIAL_CIFAR_MEAN))
    return [
        Claim("00-nb201-best", "NAS-Bench-201", f"best CIFAR-10 test accuracy {NB201_BEST_C10}%",
              f"{best['c10_test']:.3f}% at index {int(best['index'])}",
              decided(at_most(abs(best["c10_test"] - NB201_BEST_C10), 0.01)), "nats_bench.csv, 200 epochs",
              kind="fidelity"),
        Claim("00-cifar-mean", "CIFAR-10", "per-channel means 0.4914/0.4822/0.4465",
              "/".join(f"{m:.4f}" for m in means) + f" over {n_images} train images",
              decided(at_most(diff, 0.002, partly=0.01)), "re-encoded JPEG copy, not the official pickles; yes: "
              "every mean within 0.002, partly: within 0.01", kind="fidelity",
              preconditions=(Precondition.check(
                  "images averaged (the per-image channel means vary with SD ~0.12, so the mean of n images is off by "
                  "~0.12/sqrt(n): below half the 0.002 tolerance from 20,000 images)", float(n_images), ">=",
                  float(MEAN_IMAGES), "{:.0f}"),)),
    ]


def findings(ledger: pd.DataFrame, profile: str) -> str:
    """The tour's closing line with this run's verdicts (markdown): what holds in this profile, and why not where
    a small profile cannot check it."""
    parts = [f"`{r.claim_id}` **{r.holds}** ({r.we_measured}" + (f"; {r.reason}" if r.reason else "") + ")"
             for r in ledger.itertuples()]
    return f"**This run (profile `{profile}`):** " + "; ".join(parts) + "."


MEAN_IMAGES = 20_000  # images the channel-mean check needs to be able to decide (see claims)

CLAIMS = {  # what each notebook tests (one line); the status and times are read from data/, never typed here
    "00_tour": "where the data comes from; two data facts",
    "00b_detector": "the detection stack: an FCOS detector trained from scratch on BCCD",
    "00c_testbed": "the instrument: CIFAR-10 Scenes, convergence, seeds, intervals, training speed",
    "01_bn_rescaling": "Zen-NAS §3: Φ overflow, BN-rescaling, Zen-Score recovers Φ",
    "02_proxy_vs_accuracy": "zero-cost proxies vs NAS-Bench-201 accuracy",
    "03_msep_ablation": "MAE-DET: entropy, the multi-scale prior, the search objective",
    "04_compound_scaling": "EfficientNet/EfficientDet: compound scaling, BiFPN",
    "05_dynamicdet": "DynamicDet: two cascaded detectors and a router",
    "06_zen_nas_search": "Zen-NAS's own test: one search per proxy, the winners trained on CIFAR-10",
}


def claims_overview(claims_dir=None):
    """The figure of every claim (:mod:`detdesign.claims.figure`) from the published ledgers; where there are none
    (outside a checkout, before a full run) it says so and returns None."""
    from detdesign.claims import figure, load_all
    from detdesign.outputs import published_claims

    folder = claims_dir if claims_dir is not None else published_claims()
    ledger = load_all(folder)
    if not (ledger["kind"] == "paper").any():
        print(f"no published claims under {folder.name}/ yet: `make reproduce PROFILE=full` writes them")
        return None
    return figure.draw(ledger)


def notebook_table(claims_dir=None) -> pd.DataFrame:
    """Every notebook with what it tests, its published verdicts (counted from ``data/claims``) and its measured
    quick and full times (``data/timings.csv``, :mod:`detdesign.timings`)."""
    from detdesign.claims import load_all
    from detdesign.outputs import published_claims
    from detdesign.timings import notebook_names, time_table

    ledger = load_all(claims_dir if claims_dir is not None else published_claims())
    times = time_table()
    unknown = [nb for nb in notebook_names() if nb not in CLAIMS]
    if unknown:
        raise ValueError(f"notebooks {unknown} have no line in detdesign.studies.tour.CLAIMS; add what each tests")
    rows = []
    for nb in notebook_names():
        verdicts = ledger.loc[ledger["notebook"] == nb, "holds"].value_counts()
        status = ", ".join(f"{n} {v}" for v, n in verdicts.items()) if len(verdicts) else "no published claims"
        rows.append({"notebook": nb, "tests": CLAIMS.get(nb, ""), "published verdicts": status,
                     "quick": times.loc[nb, "quick"], "full": times.loc[nb, "full"]})
    rows.append({"notebook": "total", "tests": "", "published verdicts": "", "quick": times.loc["total", "quick"],
                 "full": times.loc["total", "full"]})
    return pd.DataFrame(rows)
