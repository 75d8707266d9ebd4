"""Safe downloads: pinned sources, SHA-256 checks, archives that cannot escape their folder, atomic installs.

Every downloader of the package follows the same rules:

1. the URL names an immutable source (a commit or a release file, never a moving branch);
2. the bytes are checked against a SHA-256 written in the code before anything is unpacked or parsed
   (:func:`fetch`), or -- for archives that a forge builds on demand and so are not byte-stable -- the unpacked
   files are checked against a :func:`tree_digest` (one SHA-256 over every file's path and SHA-256);
3. an archive member whose path is absolute, contains ``..``, or is a link is refused (:func:`safe_members`);
4. files are unpacked into a temporary folder next to the target and moved into place only when complete and
   verified (:func:`install`), so an interrupted or failed download leaves no half-written dataset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath


class ChecksumError(ValueError):
    """Downloaded or unpacked bytes differ from the SHA-256 the code pins."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_digest(folder: str | os.PathLike, exclude: Iterable[str] = ()) -> str:
    """One SHA-256 over ``"<relative posix path>\\t<sha256 of the file>"`` lines of every file under
    ``folder``, sorted (``exclude``: relative paths left out). Independent of archive packing and timestamps."""
    base = Path(folder)
    skip = set(exclude)
    lines = sorted(f"{p.relative_to(base).as_posix()}\t{sha256_file(p)}" for p in base.rglob("*")
                   if p.is_file() and p.relative_to(base).as_posix() not in skip)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def verify(actual: str, expected: str, what: str) -> None:
    """Raise :class:`ChecksumError` naming ``what`` when the digests differ."""
    if actual != expected:
        raise ChecksumError(f"{what}: SHA-256 {actual} differs from the pinned {expected}; the source changed or "
                            "the transfer was damaged. Nothing was installed; retry, or report the new digest.")


def fetch(url: str, dest: str | os.PathLike, sha256: str | None, timeout: float = 120) -> Path:
    """Download ``url`` to ``dest`` through a temporary file, verify ``sha256`` (when given), then move it into
    place. ``sha256=None`` is only for sources a caller verifies after unpacking (:func:`tree_digest`)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        if sha256 is not None:
            verify(sha256_file(tmp), sha256, f"download of {url}")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def safe_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Every member of ``zf``, after refusing any that could write outside the folder it is unpacked into."""
    for info in zf.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts or _is_link(info):
            raise ValueError(f"archive {zf.filename or '<bytes>'}: member {name!r} would escape the target folder "
                             "(absolute path, '..' or link); refusing to unpack this archive")
    return zf.infolist()


def extract_subtree(zf: zipfile.ZipFile, prefix: str, folder: Path) -> int:
    """Write the members under ``prefix`` (a folder inside the archive) to ``folder``, prefix stripped.
    Returns the number of files written. Every member is checked before anything is written: the whole name
    (:func:`safe_members`) and the path actually written once ``prefix`` is stripped (``"<prefix>//etc/x"``
    passes the first check but would be written at ``/etc/x``)."""
    base, plan = folder.resolve(), []
    for info in safe_members(zf):
        if info.is_dir() or not info.filename.startswith(prefix):
            continue
        rest = info.filename[len(prefix):].replace("\\", "/")
        parts = PurePosixPath(rest).parts
        out = (folder / rest).resolve()
        if rest.startswith("/") or not parts or ".." in parts or not out.is_relative_to(base):
            raise ValueError(f"archive {zf.filename or '<bytes>'}: member {info.filename!r} would be written at "
                             f"{rest!r}, outside {folder} once {prefix!r} is stripped; refusing to unpack it")
        plan.append((info, out))
    for info, out in plan:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return len(plan)


def install(staging: Path, target: Path) -> Path:
    """Move the finished ``staging`` folder to ``target`` (replacing a previous copy only after success)."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
    return target


def staging_dir(target: Path) -> Path:
    """A fresh temporary folder next to ``target`` (same file system, so :func:`install` is a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
