"""The data root: where datasets are looked up, and where decoded copies are cached.

Resolution order for the data root: the ``root`` argument > ``$DETDESIGN_DATA`` > ``../shared/datasets``
beside the checkout the package is installed from (the verified offline copies of this project's machines) >
``~/.cache/detdesign``.
Decoded arrays (e.g. CIFAR-10 as uint8) are cached under ``$DETDESIGN_CACHE`` or ``~/.cache/detdesign``,
because the data root may be read-only.

Nothing is downloaded silently. A loader downloads a missing dataset (from a pinned source, checksum-verified)
only when asked: its ``download=True`` argument, or the one switch ``DETDESIGN_DOWNLOAD=1`` in the environment
(``make reproduce DOWNLOAD=1`` sets it), which is how a notebook is told to download.
"""

from __future__ import annotations

import os
from pathlib import Path

from detdesign.outputs import package_checkout

DATA_ENV = "DETDESIGN_DATA"
CACHE_ENV = "DETDESIGN_CACHE"
DOWNLOAD_ENV = "DETDESIGN_DOWNLOAD"


class DataNotFoundError(FileNotFoundError):
    """A dataset file is not under the data root and could not be downloaded."""


def download_wanted(download: bool | None = None) -> bool:
    """Whether a loader may download a missing dataset: ``download`` when given, else ``$DETDESIGN_DOWNLOAD``."""
    if download is not None:
        if not isinstance(download, bool):
            raise TypeError(f"download must be True, False or None, got {download!r}")
        return download
    value = os.environ.get(DOWNLOAD_ENV, "0").strip().lower()
    if value not in ("", "0", "1", "false", "true", "no", "yes"):
        raise ValueError(f"{DOWNLOAD_ENV}={value!r}: use 1 to allow downloads or 0 to forbid them")
    return value in ("1", "true", "yes")


def default_cache_dir() -> Path:
    """``$DETDESIGN_CACHE`` or ``~/.cache/detdesign`` (created)."""
    path = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "detdesign")).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{CACHE_ENV}={str(path)!r}: cannot use it as the decoded-array cache folder "
                         f"({err.strerror}); point {CACHE_ENV} at a writable folder or unset it") from None
    return path


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root (see the module docstring for the order)."""
    if root is not None:
        return Path(root).expanduser().resolve()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    checkout = package_checkout()
    shared = checkout.parent / "shared" / "datasets" if checkout is not None else None
    if shared is not None and shared.is_dir():
        return shared.resolve()
    return (Path.home() / ".cache" / "detdesign").resolve()


def not_found(relpath: str, root: Path, hint: str = "") -> DataNotFoundError:
    """The one-line error for a missing file: what, where, and how to point us at it."""
    msg = (f"{relpath} not found under data root {root}; set {DATA_ENV}=/path/to/datasets or pass root=..., "
           f"or allow the pinned download with {DOWNLOAD_ENV}=1 (or download=True)")
    return DataNotFoundError(msg + (f" ({hint})" if hint else ""))


def find(relpath: str, root: str | os.PathLike | None = None) -> Path:
    """Return ``<data root>/<relpath>`` or raise :class:`DataNotFoundError` naming what was searched."""
    base = data_root(root)
    path = base / relpath
    if not path.exists():
        raise not_found(relpath, base)
    return path


def shown_root(root: str | os.PathLike | None = None) -> str:
    """The data root as a notebook prints it: relative to the checkout when it lies beside or inside it
    (``../shared/datasets``), ``~/...`` under the home folder, else absolute (a published output shows no machine's
    absolute path where it can avoid it)."""
    path = data_root(root)
    checkout = package_checkout()
    if checkout is not None and path.is_relative_to(checkout.parent):
        return os.path.relpath(path, checkout)
    home = Path.home().resolve()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
