"""A resumable, versioned, schema-checked result cache for expensive loops.

Rows are stored as one JSON file ``{key: row}`` under the profile's cache folder. Guarantees:

- **Atomic.** Every ``put`` rewrites the file through a temporary file in the same folder followed by
  ``os.replace`` (atomic on POSIX): an interrupted run leaves the old or the new file, never a half-written
  one; a stray temporary file from a killed writer is ignored and cleaned up by the next write.
- **Safe for concurrent writers.** ``put`` holds a lock file (``filelock``) while it re-reads the file, merges
  its row in and writes it back, so two processes (or two notebooks) writing one cache lose no rows.
- **Versioned.** A cache is opened with the ``version`` of the code path that computes its rows; rows are
  stored under ``key`` for version 1 (the version of every published cache) and ``key|v<version>`` after a
  bump, so a semantic change of the code recomputes instead of reusing a stale row.
- **Validated.** With ``fields`` (the columns every row must carry) a stored row that lacks one is never
  returned: ``get`` treats it as missing (so it is recomputed) and warns once, naming the file and the row.
  Values are checked by kind too (:func:`value_kind`): a nested object, a bare JSON ``NaN``/``Infinity`` (this
  cache writes non-finite floats as the strings ``"nan"``/``"inf"``), or a value whose kind differs from the kind
  the file's other rows hold for that field (``"overflow": "false"`` among booleans, ``null`` among numbers)
  makes the row invalid: recomputed, never used. Each new row records the cache ``version`` that wrote it
  (``_version``, stripped on read); a row whose recorded version differs from the one it is stored under is
  invalid.
  A file that is not a JSON object of objects is an error that names it and says that deleting it recomputes.

Reopening the cache reads back every row written so far, so a rerun skips the work already done::

    cache = ResultCache(run.outputs.cache / "zen_grid.json", version=2, fields=("zen",))
    row = cache.get_or_compute(f"d{depth}-w{width}", lambda: {"zen": score(...)})
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pandas as pd
from filelock import FileLock

_VERSIONED = re.compile(r"\|v([0-9]+)$")
_BAD_CONSTANT = "\x00bare JSON constant "  # how a bare NaN / Infinity token of a hand-edited file is read
VERSION_FIELD = "_version"


def value_kind(v) -> str:
    """The kind of a stored value: ``bool``, ``number`` (ints, floats, and the ``"nan"``/``"inf"``/``"-inf"`` this
    cache writes for non-finite floats), ``str``, ``list``, ``null``, or ``invalid`` (a nested object, a bare JSON
    NaN/Infinity token)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "invalid" if v.startswith(_BAD_CONSTANT) else "number" if v in ("nan", "inf", "-inf") else "str"
    if v is None:
        return "null"
    return "list" if isinstance(v, list) else "invalid"


def _majority_kinds(rows: dict[str, dict]) -> dict[str, str]:
    """Per field, the kind at least two rows and more than half of the rows holding it agree on."""
    from collections import Counter

    counts: dict[str, Counter] = {}
    for row in rows.values():
        for k, v in row.items():
            counts.setdefault(k, Counter())[value_kind(v)] += 1
    out = {}
    for k, c in counts.items():
        kind, n = c.most_common(1)[0]
        if n >= 2 and 2 * n > sum(c.values()) and kind != "invalid":
            out[k] = kind
    return out


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
    return {k: float(v) if v in ("inf", "-inf", "nan") else v for k, v in row.items() if k != VERSION_FIELD}


def _read(path: Path) -> dict[str, dict]:
    """The rows of the cache file at ``path`` ({} when absent); a malformed file is a ``ValueError`` naming it."""
    if not path.exists():
        return {}
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise ValueError(f"result cache {path} is not UTF-8 text ({err.reason} at byte {err.start}); delete it to "
                         "recompute its rows") from None
    try:
        data = json.loads(text, parse_constant=lambda c: _BAD_CONSTANT + c) if text.strip() else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"result cache {path} is not valid JSON ({err}); delete it to recompute its rows") from err
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"result cache {path} must hold a JSON object of rows (objects); delete it to recompute")
    return data


class ResultCache:
    """Key -> row (a flat dict of JSON scalars) persisted atomically at ``path``.

    Args:
        version: version of the code path that computes the rows (an int >= 1); bump it when the meaning of
            a row changes. Version 1 keys are the plain keys (every cache published before versioning).
        fields: column names every valid row must hold; a stored row missing one is recomputed, never used.
    """

    def __init__(self, path: str | os.PathLike, *, version: int = 1, fields: Iterable[str] = ()):
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"a cache version must be an int >= 1, got {version!r}")
        if isinstance(fields, str):
            raise TypeError(f"fields must be a sequence of column names, got the string {fields!r}")
        self.path = Path(path)
        self.version = version
        self.fields = tuple(fields)
        self._lock = FileLock(str(self.path.parent / f".{self.path.name}.lock"))
        self._warned: set[str] = set()
        self._rows: dict[str, dict] = _read(self.path)
        self._kinds = _majority_kinds(self._rows)

    def _clean_stale_temps(self) -> None:
        """Remove temporary files of killed writers; only called with the lock held, since every live writer
        writes its temporary file under that lock (cleaning outside it deleted a concurrent writer's file)."""
        if self.path.parent.is_dir():
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                stale.unlink(missing_ok=True)

    def _stored(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise ValueError(f"cache keys must be non-empty strings, got {key!r}")
        return key if self.version == 1 else f"{key}|v{self.version}"

    def _valid(self, key: str, stored: str, fields: Iterable[str] = ()) -> bool:
        row = self._rows.get(stored)
        if row is None:
            return False
        missing = [f for f in (*self.fields, *fields) if f not in row]
        bad = [f"{k}={v!r} ({value_kind(v)}{'' if k not in self._kinds else ', expected ' + self._kinds[k]})"
               for k, v in row.items() if k != VERSION_FIELD and (value_kind(v) == "invalid" or (
                   k in self._kinds and value_kind(v) != self._kinds[k]))]
        m = _VERSIONED.search(stored)
        if row.get(VERSION_FIELD, int(m.group(1)) if m else 1) != (int(m.group(1)) if m else 1):
            bad.append(f"{VERSION_FIELD}={row[VERSION_FIELD]!r} (stored as version {int(m.group(1)) if m else 1})")
        if (missing or bad) and stored not in self._warned:
            self._warned.add(stored)
            what = (f"lacks {missing} (written by older code)" if missing else "") + (
                ("; " if missing else "") + f"holds {', '.join(bad)}" if bad else "")
            warnings.warn(f"result cache {self.path}: row {key!r} {what}; it is recomputed, not used", stacklevel=3)
        return not missing and not bad

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: str) -> bool:
        return self._valid(key, self._stored(key))

    def __iter__(self) -> Iterator[str]:
        """The keys of this version's valid rows."""
        for stored in list(self._rows):
            m = _VERSIONED.search(stored)
            version = int(m.group(1)) if m else 1
            key = stored[: m.start()] if m else stored
            if version == self.version and self._valid(key, stored):
                yield key

    def get(self, key: str, default: dict | None = None, *, fields: Iterable[str] = ()) -> dict | None:
        """The valid row stored under ``key`` (non-finite floats decoded), else ``default``; ``fields`` adds
        columns this call requires on top of the cache's own."""
        stored = self._stored(key)
        return _decode(self._rows[stored]) if self._valid(key, stored, fields) else default

    def put(self, key: str, row: dict) -> None:
        """Store ``row`` under ``key``: lock, merge with the rows other writers stored meanwhile, write atomically."""
        stored = self._stored(key)
        missing = [f for f in self.fields if f not in row] if isinstance(row, dict) else []
        if missing:
            raise ValueError(f"result cache {self.path}: the row for {key!r} lacks the fields {missing} this cache "
                             f"requires ({list(self.fields)}); the code that computes it must return them")
        new = {**_jsonable(row), VERSION_FIELD: self.version}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._clean_stale_temps()
            self._rows = {**_read(self.path), stored: new}
            self._kinds = _majority_kinds(self._rows)
            self._write()

    def adopt(self, other: ResultCache, keys: Iterable[str]) -> int:
        """Copy into this cache every row of ``keys`` that ``other`` holds valid and this cache lacks: a content key
        names one computation, so a training another study already ran is reused, not repeated (the pilot's runs of
        ``00c`` are the S rungs of ``04``'s neck ablation). Returns how many rows were copied."""
        n = 0
        for key in keys:
            if key not in self and key in other:
                self.put(key, {k: v for k, v in other.get(key).items() if k != VERSION_FIELD})
                n += 1
        return n

    def get_or_compute(self, key: str, compute: Callable[[], dict], *, fields: Iterable[str] = ()) -> dict:
        """Return the cached row for ``key``, computing and storing it first if absent or invalid (a stored
        row that lacks one of the cache's ``fields`` or of this call's ``fields`` is recomputed)."""
        fields = tuple(fields)
        row = self.get(key, fields=fields)
        if row is None:
            new = compute()
            lacking = [f for f in fields if f not in new]
            if lacking:
                raise ValueError(f"result cache {self.path}: the computed row for {key!r} lacks {lacking}")
            self.put(key, new)
            row = self.get(key)
        return row

    def to_frame(self) -> pd.DataFrame:
        """All valid rows of this version as a DataFrame, indexed by key."""
        return pd.DataFrame.from_dict({k: self.get(k) for k in self}, orient="index")

    def _write(self) -> None:
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
