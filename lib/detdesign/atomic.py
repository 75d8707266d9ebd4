"""Atomic file writes with unique temporary names: nothing half-written is ever seen under a final name.

:func:`atomic_path` yields a fresh temporary path in the target's folder (``mkstemp``: two processes writing the
same file never share a temporary name, so neither removes or renames the other's) and moves it over the target
with ``os.replace`` when the block succeeds; on any failure, including a ``KeyboardInterrupt``, the temporary file
is removed and the target keeps its previous content. A kill (SIGKILL) can leave a ``.<name>.*.tmp*`` file
behind, never a truncated target.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A unique temporary path next to ``path`` ending in ``suffix`` (e.g. ``".npz"``, ``".png"``: writers that
    infer a format from the name), moved over ``path`` when the ``with`` block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these are ordinary data files
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_npz(path: str | os.PathLike) -> dict | None:
    """The arrays of a decoded-array cache file, or None when it is absent or damaged (truncated, not an npz):
    a damaged cache is removed with a warning naming it, so the caller decodes the source again."""
    import warnings
    import zipfile

    import numpy as np

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        warnings.warn(f"decoded-array cache {path} is damaged ({type(err).__name__}: {err}); it is removed and "
                      "rebuilt from its source", stacklevel=2)
        path.unlink(missing_ok=True)
        return None
