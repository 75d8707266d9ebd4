"""NAS-Bench-201 ground-truth tables, joined on one canonical architecture string column ``arch``.

- :func:`load_nb201_200` -- ``nasbench201/nats_bench.csv``: 200-epoch test accuracy on CIFAR-10,
  CIFAR-100 and ImageNet16-120 for all 15,625 cells; row number = NB201 index.
- :func:`load_nb201_12` -- ``nasbench201/mini_nasbench201_12epoch.csv``: the 12-epoch schedule.
- :func:`load_naslib_zc` -- ``nasbench201/naslib_zc_nasbench201_subset.json``: 491 cells with NASLib's
  precomputed zero-cost proxies and 200-epoch validation accuracy (failed cells carry sentinel values such
  as -1e8; they are kept and flagged in ``naslib_failed``).

A missing table is downloaded from its pinned source (:mod:`detdesign.data.nb201_download`) when ``download=True``
or ``DETDESIGN_DOWNLOAD=1``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from detdesign.arch.nb201_cell import format_nb201, from_naslib_key, parse_nb201
from detdesign.data.root import DataNotFoundError, download_wanted, find

NASLIB_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def _find(name: str, root, download: bool | None):
    """The path of NB201 table ``name`` (a key of ``nb201_download.SOURCES``); downloaded if missing and allowed."""
    from detdesign.data.nb201_download import SOURCES, download_nb201

    try:
        return find(SOURCES[name].relpath, root)
    except DataNotFoundError:
        if not download_wanted(download):
            raise
        return download_nb201(root, names=(name,))[name]


def canonical(arch: str) -> str:
    """The canonical form of a cell string (parsed and printed back)."""
    return format_nb201(parse_nb201(arch))


def load_nb201_200(root=None, *, download: bool | None = None) -> pd.DataFrame:
    """``index, arch, c10_test, c100_test, in16_test`` (200 epochs, mean over seeds) and ``unique``: NATS-Bench's
    ``UniqueString``, equal for isomorphic cells (the 15,625 cells hold 6,466 distinct ones)."""
    raw = pd.read_csv(_find("nats_bench", root, download))
    df = pd.DataFrame({
        "index": np.arange(len(raw)),
        "arch": [canonical(a) for a in raw["ArchitectureString"]],
        "c10_test": raw["CIFAR10TestAccuracy200Epochs"],
        "c100_test": raw["CIFAR100TestAccuracy200Epochs"],
        "in16_test": raw["ImageNetTestAccuracy200Epochs"],
        "unique": raw["UniqueString"],
    })
    if df["arch"].duplicated().any():
        raise ValueError("nats_bench.csv holds duplicate architecture strings; is the file corrupt?")
    return df


def load_nb201_12(root=None, *, download: bool | None = None) -> pd.DataFrame:
    """``index, arch`` and the 12-epoch accuracies (``c10_test_12``, ``c10_val_12``, ...)."""
    raw = pd.read_csv(_find("mini_12epoch", root, download))
    out = pd.DataFrame({"index": raw["arch"].astype(int), "arch": [canonical(a) for a in raw["cellstr"]]})
    names = {"cifar10": "c10", "cifar100": "c100", "imagenet": "in16"}
    for src, dst in names.items():
        for part in ("test", "val"):
            out[f"{dst}_{part}_12"] = raw[f"{src}-{part}"]
    return out


def load_naslib_zc(dataset: str = "cifar10", root=None, *, download: bool | None = None) -> pd.DataFrame:
    """One row per NASLib cell: ``arch``, ``val_accuracy``, each proxy, and ``naslib_failed``."""
    if dataset not in NASLIB_DATASETS:
        raise ValueError(f"unknown NASLib dataset {dataset!r}; valid: {NASLIB_DATASETS}")
    data = json.loads(_find("naslib_zc", root, download).read_text())
    table = data["nasbench201"][dataset]
    rows = []
    for key, vals in table.items():
        flat = {k: (v["score"] if isinstance(v, dict) else v) for k, v in vals.items()}
        rows.append({"arch": format_nb201(from_naslib_key(key)), **flat})
    df = pd.DataFrame(rows)
    numeric = df.drop(columns=["arch"]).select_dtypes("number")
    df["naslib_failed"] = (numeric <= -1e7).any(axis=1)
    return df


def load_nb201(root=None, *, download: bool | None = None) -> pd.DataFrame:
    """The 200-epoch and 12-epoch tables joined on ``arch`` (exact: 15,625 rows, same indices)."""
    a, b = load_nb201_200(root, download=download), load_nb201_12(root, download=download)
    df = a.merge(b, on="arch", suffixes=("", "_12"), validate="one_to_one")
    if len(df) != len(a) or not (df["index"] == df["index_12"]).all():
        raise ValueError("the 200-epoch and 12-epoch NB201 tables do not join one-to-one on arch")
    return df.drop(columns=["index_12"])


def uniform_cells(nb201: pd.DataFrame, n: int, seed: int) -> list[str]:
    """``n`` cells drawn uniformly at random without replacement from all rows of ``nb201`` (isomorphic duplicates
    included, as NAS-Bench-Suite-Zero samples the 15,625 cells); prefix-stable: the first ``m`` of a draw of ``n``
    are the draw of ``m``, so a larger profile extends a smaller one's cache."""
    if not 0 <= n <= len(nb201):
        raise ValueError(f"n must be between 0 and the {len(nb201)} cells of the table, got {n}")
    order = np.random.default_rng(seed).permutation(len(nb201))
    return list(nb201["arch"].to_numpy()[order[:n]])


def sample_cells(nb201: pd.DataFrame, n: int, seed: int, extra: list[str] = ()) -> list[str]:
    """``n`` cells stratified over CIFAR-10 accuracy deciles (prefix-stable), then ``extra`` cells."""
    bins = pd.qcut(nb201["c10_test"].rank(method="first"), 10, labels=False)
    rng = np.random.default_rng(seed)
    strata = [list(rng.permutation(nb201.loc[bins == b, "arch"].to_numpy())) for b in range(10)]
    picked = [strata[i % 10][i // 10] for i in range(n)]
    seen = set(picked)
    return picked + [a for a in extra if not (a in seen or seen.add(a))]
