"""The project's own seed noise: one stored table of every seed group, pooled per instrument.

A **seed group** is one model (a network, a neck, a detector) trained with two or more seeds under one recipe;
its values are the test metric of each seed. An **instrument** names what is measured and how (dataset, recipe,
metric), e.g. :data:`SCENES_V1_AP`: groups of one instrument are pooled into one seed SD
(:func:`detdesign.stats.pooled_sd`), the ``sigma_seed`` of :func:`detdesign.stats.seed_aware_interval`.

The table is ``seed_noise.csv`` in the profile's cache folder (the committed ``data/cache/`` for ``full``): one
row per (instrument, group, seed) with the value, the notebook that wrote it and the table version. A notebook
*adds* its groups (:meth:`SeedNoiseTable.update`: a group's rows are replaced, other groups kept) before it reads
the pooled SD, so every new pair updates the noise every later verdict uses; a rerun from the caches writes the
same rows and reads the same SD. Writes are atomic and locked (two notebooks may write at once).
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from filelock import FileLock

from detdesign.stats import pooled_sd

VERSION = 1  # of the table's layout and of what a row means; rows of another version are not pooled
COLUMNS = ("instrument", "group", "seed", "value", "source", "version")

# The instruments of the published studies (dataset, recipe, metric)
SCENES_V1_AP = "AP, CIFAR-10 Scenes v1 (1,000 train / 1,000 test scenes), testbed recipe"
BCCD_AP = "AP, BCCD test (72 images), testbed recipe"
CIFAR_GRID_TOP1 = "top-1, CIFAR-10 (300 train images per class, 10,000 test), grid recipe"
CIFAR_ZEN_TOP1 = "top-1, CIFAR-10 (1,000 train images per class, 10,000 test), Zen-NAS recipe"


def scenes_v2_ap(variant: str, schedule: str) -> str:
    """The instrument of test AP on testbed-v2 variant ``variant`` (online scenes) under ``schedule`` (e.g. the
    pilot's or the reference S): groups of different variants or schedules are never pooled together."""
    return f"AP, testbed {variant} (online scenes), {schedule}"


@dataclass(frozen=True)
class SeedNoise:
    """The pooled seed SD of one instrument: ``sd`` (NaN without a group of two), degrees of freedom ``dof``,
    ``groups`` pooled."""

    instrument: str
    sd: float
    dof: int
    groups: int

    def text(self) -> str:
        if not math.isfinite(self.sd):
            return f"seed SD of {self.instrument!r}: unknown (no seed pair yet)"
        return f"pooled seed SD {self.sd:.4f} ({self.groups} groups, {self.dof} degrees of freedom)"


class SeedNoiseTable:
    """The table at ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = FileLock(str(self.path.parent / f".{self.path.name}.lock"))

    def read(self) -> pd.DataFrame:
        """Every row (an empty table when the file does not exist); a malformed file is a ValueError naming it."""
        if not self.path.exists():
            return pd.DataFrame(columns=list(COLUMNS))
        try:
            df = pd.read_csv(self.path, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ValueError(f"seed-noise table {self.path} cannot be read ({err}); delete it and rerun the "
                             "notebooks to rebuild it") from None
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"seed-noise table {self.path} lacks the columns {missing}; delete it to rebuild it")
        df["value"] = pd.to_numeric(df["value"], errors="coerce")
        return df[list(COLUMNS)]

    def update(self, instrument: str, groups: dict[str, dict[int, float]], source: str) -> None:
        """Replace the rows of each group of ``groups`` ({group: {seed: value}}) of ``instrument``; groups of fewer
        than two finite values are skipped (they carry no seed noise)."""
        if not instrument or not isinstance(instrument, str):
            raise ValueError(f"instrument must be a non-empty string, got {instrument!r}")
        bad = [g for g in groups if not str(g).strip() or "\n" in str(g)]
        if bad:
            raise ValueError(f"seed-group names must be one non-empty line (name a network by its content key), got "
                             f"{bad[:2]!r}")
        new = [{"instrument": instrument, "group": str(g), "seed": int(s), "value": float(v), "source": source,
                "version": VERSION}
               for g, by_seed in groups.items()
               if sum(math.isfinite(float(v)) for v in by_seed.values()) >= 2
               for s, v in sorted(by_seed.items()) if math.isfinite(float(v))]
        if not new:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            old = self.read()
            keys = {(instrument, r["group"]) for r in new}
            keep = old[[(i, g) not in keys for i, g in zip(old["instrument"], old["group"].astype(str))]]
            df = pd.concat([keep, pd.DataFrame(new)], ignore_index=True)
            df = df.sort_values(["instrument", "group", "seed"], kind="stable")
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "w") as fh:
                df.to_csv(fh, index=False, float_format="%.6f")
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)

    def add(self, instrument: str, rows, by: str, value: str, source: str, name=str) -> float:
        """:meth:`update` with one group per ``by`` value of the DataFrame ``rows`` (``seed`` and ``value`` columns
        give its values; ``name(key)`` its group name), then the pooled seed SD of ``instrument``."""
        self.update(instrument, {name(k): dict(zip(g["seed"], g[value])) for k, g in rows.groupby(by)}, source)
        return self.pooled(instrument).sd

    def pooled(self, instrument: str) -> SeedNoise:
        """The pooled seed SD of ``instrument`` over the groups of this table's version."""
        df = self.read()
        sub = df[(df["instrument"] == instrument) & (df["version"].astype(str) == str(VERSION))]
        groups = [g["value"].to_numpy() for _, g in sub.groupby("group")]
        sd, dof = pooled_sd(groups)
        return SeedNoise(instrument, sd, dof, sum(len(g) >= 2 for g in groups))

    def summary(self) -> pd.DataFrame:
        """One row per instrument: groups, runs, pooled seed SD."""
        df = self.read()
        rows = []
        for inst, g in df.groupby("instrument"):
            n = self.pooled(inst)
            rows.append({"instrument": inst, "groups": n.groups, "runs": len(g), "seed_sd": n.sd, "dof": n.dof})
        return pd.DataFrame(rows, columns=["instrument", "groups", "runs", "seed_sd", "dof"])
