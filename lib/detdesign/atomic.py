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
