"""Progress bars: tqdm's notebook widget where ipywidgets is installed, its text bar otherwise.

``DETDESIGN_PROGRESS=0`` turns bars off; ``make reproduce`` and ``make test`` set it, so executed notebooks
stored in the repository carry results, not progress-bar residue. ``DETDESIGN_PROGRESS_LOG=<file>`` sends every
bar to that file instead (plain text, one update every few seconds), whatever ``DETDESIGN_PROGRESS`` says:
``make reproduce`` sets it and prints the latest line of the file while a long notebook runs.
"""

from __future__ import annotations

import os

LOG_ENV = "DETDESIGN_PROGRESS_LOG"


def progress(iterable=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` with the right front end, or the bare iterable when disabled."""
    log = os.environ.get(LOG_ENV)
    if log and not kwargs.get("disable"):
        from tqdm import tqdm

        try:
            fh = open(log, "a", buffering=1)  # noqa: SIM115 -- closed with the bar (below)
        except OSError as err:
            raise ValueError(f"{LOG_ENV}={log!r}: cannot append progress lines there ({err.strerror}); point it at a "
                             "writable file or unset it") from None
        opts = {"ascii": True, "mininterval": 5, "ncols": 100, **kwargs, "file": fh}
        bar = tqdm(iterable, **opts)
        close = bar.close

        def _close():
            close()
            fh.close()

        bar.close = _close
        return bar
    if os.environ.get("DETDESIGN_PROGRESS", "1") == "0":
        kwargs["disable"] = True
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(iterable, **kwargs)
