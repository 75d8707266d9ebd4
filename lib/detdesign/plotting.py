"""One figure style for every notebook and a byte-stable ``savefig``.

``savefig(fig, name, profile)`` writes ``<figures>/<name>.png`` and a vector ``<name>.svg`` into the
profile's figure folder (:func:`detdesign.outputs.outputs`): the committed ``figures/`` for ``full``,
``runs/<profile>/figures/`` otherwise. SVG ids are salted with a constant and the date is dropped, and the
PNG carries no timestamp, so rerunning a notebook with the same numbers rewrites identical bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns

from detdesign.outputs import outputs

PALETTE = "colorblind"


def set_style() -> None:
    """Apply the project style (seaborn whitegrid, colour-blind palette, readable sizes)."""
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")
    matplotlib.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 120,
        "savefig.bbox": "tight",
        "axes.titleweight": "bold",
        "svg.hashsalt": "detdesign",
        "svg.fonttype": "none",
    })


def savefig(fig: plt.Figure, name: str, profile: str) -> Path:
    """Save ``fig`` as PNG + SVG under the profile's figure folder; return the PNG path."""
    if not name or "/" in name or name.endswith((".png", ".svg")):
        raise ValueError(f"figure name must be a bare name like '01_overflow', got {name!r}")
    folder = outputs(profile).figures
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png, metadata={"Software": None})
    fig.savefig(folder / f"{name}.svg", metadata={"Date": None, "Creator": None})
    return png
