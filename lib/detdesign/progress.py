"""Progress bars: tqdm's notebook widget where ipywidgets is installed, its text bar otherwise.

``DETDESIGN_PROGRESS=0`` turns bars off; ``make reproduce`` and ``make test`` set it, so executed notebooks
stored in the repository carry results, not progress-bar residue.
"""

from __future__ import annotations

import os


def progress(iterable=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` with the right front end, or the bare iterable when disabled."""
    if os.environ.get("DETDESIGN_PROGRESS", "1") == "0":
        kwargs["disable"] = True
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(iterable, **kwargs)
