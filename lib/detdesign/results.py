"""A resumable result cache for expensive loops.

Rows are stored as one JSON file ``{key: row}`` under the profile's cache folder. Every ``put`` rewrites
the file through a temporary file in the same folder followed by ``os.replace`` (atomic on POSIX), so an
interrupted run leaves either the old or the new file, never a half-written one; a stray temporary file
from a killed writer is ignored (and cleaned up) on the next open. Reopening the cache reads back every
row written so far, so a rerun skips the work already done::

    cache = ResultCache(outputs(PROFILE).cache / "zen_grid.json")
    row = cache.get_or_compute(f"d{depth}-w{width}", lambda: {"zen": score(...)})
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd


def _jsonable(row: dict) -> dict:
    if not isinstance(row, dict):
        raise TypeError(f"a cached row must be a dict, got {type(row).__name__}")
    out = {}
    for k, v in row.items():
        if hasattr(v, "item") and callable(v.item):  # numpy / torch scalars
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = repr(v)  # JSON has no inf/nan; store 'inf', '-inf', 'nan' and decode on read
        out[str(k)] = v
    return out


def _decode(row: dict) -> dict:
    return {k: float(v) if v in ("inf", "-inf", "nan") else v for k, v in row.items()}


class ResultCache:
    """Key -> row (a flat dict of JSON scalars) persisted atomically at ``path``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._rows: dict[str, dict] = {}
        self._clean_stale_temps()
        if self.path.exists():
            text = self.path.read_text()
            try:
                data = json.loads(text) if text.strip() else {}
            except json.JSONDecodeError as err:
                raise ValueError(f"result cache {self.path} is not valid JSON ({err}); delete it to recompute "
                                 "its rows") from err
            if not isinstance(data, dict):
                raise ValueError(f"result cache {self.path} must hold a JSON object; delete it to recompute")
            self._rows = {k: _decode(v) for k, v in data.items()}

    def _clean_stale_temps(self) -> None:
        if self.path.parent.is_dir():
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                stale.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def get(self, key: str, default: dict | None = None) -> dict | None:
        """The row stored under ``key`` (non-finite floats decoded), else ``default``."""
        row = self._rows.get(key)
        return default if row is None else _decode(row)

    def put(self, key: str, row: dict) -> None:
        """Store ``row`` under ``key`` and write the whole cache atomically."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"cache keys must be non-empty strings, got {key!r}")
        self._rows[key] = _jsonable(row)
        self._write()

    def get_or_compute(self, key: str, compute: Callable[[], dict]) -> dict:
        """Return the cached row for ``key``, computing and storing it first if absent."""
        if key not in self._rows:
            self.put(key, compute())
        return _decode(self._rows[key])

    def to_frame(self) -> pd.DataFrame:
        """All rows as a DataFrame, indexed by key."""
        return pd.DataFrame.from_dict({k: _decode(v) for k, v in self._rows.items()}, orient="index")

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(self._rows, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is an ordinary data file
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _key_extras(obj, prefix: str = "") -> list[str]:
    """``name=value`` of every ``repr=False`` dataclass field set away from its default (recursively)."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not f.repr:
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            if value != default:
                out.append(f"{prefix}{f.name}={value!r}")
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            out += _key_extras(value, f"{prefix}{f.name}.")
    return out


def canonical(part) -> str:
    """The text of one key part: ``repr`` (dataclass reprs are deterministic) plus non-default hidden fields.

    Fields that a config gained after results were published are ``repr=False``; they are appended only when
    they differ from their default, so every key computed before they existed is unchanged.
    """
    text = repr(part)
    if dataclasses.is_dataclass(part) and not isinstance(part, type):
        extras = _key_extras(part)
        if extras:
            text += "{" + ",".join(extras) + "}"
    return text


def content_key(*parts) -> str:
    """A short, stable key of a job's content (configs, data ids, sizes, seeds): names caches and checkpoints.

    The same content gives the same key on every machine and executor; the order of jobs never enters.
    """
    return hashlib.sha1("|".join(canonical(p) for p in parts).encode()).hexdigest()[:12]


def seed_for(*parts, base: int = 0) -> int:
    """A 31-bit seed derived from a job's content (never from its position in a queue)."""
    return int(hashlib.sha256(f"{base}|{content_key(*parts)}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF
