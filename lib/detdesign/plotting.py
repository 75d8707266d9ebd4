"""One figure style for every notebook and a byte-stable ``savefig``.

``savefig(fig, name, profile)`` writes ``<figures>/<name>.png`` and a vector ``<name>.svg`` into the
profile's figure folder (:func:`detdesign.outputs.outputs`): the committed ``figures/`` for ``full``,
``runs/<profile>/figures/`` otherwise. SVG ids are salted with a constant and the date is dropped, and the
PNG carries no timestamp, so rerunning a notebook with the same numbers rewrites identical bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.lines
import matplotlib.patches
import matplotlib.pyplot as plt
import seaborn as sns

from detdesign.atomic import atomic_path
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


def savefig(fig: plt.Figure, name: str, profile: str, seed: int = 0) -> Path:
    """Save ``fig`` as PNG + SVG under the figure folder of ``profile`` and ``seed``; return the PNG path."""
    if not name or "/" in name or name.endswith((".png", ".svg")):
        raise ValueError(f"figure name must be a bare name like '01_overflow', got {name!r}")
    folder = outputs(profile, seed).figures
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    with atomic_path(png, ".png") as tmp:  # a kill mid-write never leaves a truncated published figure
        fig.savefig(tmp, metadata={"Software": None})
    with atomic_path(folder / f"{name}.svg", ".svg") as tmp:
        fig.savefig(tmp, metadata={"Date": None, "Creator": None})
    return png


def image_grid(images, labels, class_names, ncols: int = 10, title: str | None = None) -> plt.Figure:
    """A grid of uint8 HWC images with their class names as titles."""
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.45 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, lab in zip(axes.flat, images, labels):
        ax.imshow(img)
        ax.set_title(class_names[int(lab)], fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def detection_grid(samples, class_names, ncols: int = 3, title: str | None = None, pred=None) -> plt.Figure:
    """Images (uint8 CHW tensors) with their boxes drawn by ``torchvision.utils.draw_bounding_boxes``.

    ``samples`` is a list of ``(image, target)`` pairs as a detection dataset returns them: ground-truth boxes are
    drawn thin in their class colour. ``pred`` (optional) is a list of prediction dicts (``boxes``, ``labels``,
    ``scores``): each detection is drawn thick in its class colour over a white outline, labelled with its class
    and score, so detections stay visible over the image and distinguishable from the ground truth.
    """
    from matplotlib import font_manager
    from torchvision.utils import draw_bounding_boxes

    colors = sns.color_palette(PALETTE, len(class_names))
    hexes = [matplotlib.colors.to_hex(col) for col in colors]
    font = font_manager.findfont("DejaVu Sans")
    n = len(samples)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, (img, tgt)) in enumerate(zip(axes.flat, samples)):
        labels = [int(v) for v in tgt["labels"]]
        drawn = draw_bounding_boxes(img, tgt["boxes"], colors=[hexes[v] for v in labels], width=1)
        found = ""
        if pred is not None:
            p = pred[i]
            plabels = [int(v) for v in p["labels"]]
            text = [f"{class_names[k]} {float(sc):.2f}" for k, sc in zip(plabels, p["scores"])]
            drawn = draw_bounding_boxes(drawn, p["boxes"], colors="white", width=5)
            drawn = draw_bounding_boxes(drawn, p["boxes"], labels=text, colors=[hexes[k] for k in plabels], width=3,
                                        font=font, font_size=max(10, img.shape[-1] // 40), label_colors="black",
                                        fill_labels=True)
            found = f", {len(plabels)} detected"
        ax.imshow(drawn.permute(1, 2, 0).numpy())
        ax.set_title(f"image {tgt['image_id']}: {len(labels)} true boxes{found}", fontsize=9)
    handles = [matplotlib.patches.Patch(color=colors[k], label=name) for k, name in enumerate(class_names)]
    if pred is not None:
        handles.append(matplotlib.lines.Line2D([], [], color="grey", lw=1, label="thin: ground truth"))
        handles.append(matplotlib.lines.Line2D([], [], color="grey", lw=3, label="thick + label: detection, score"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def search_history_figure(found, title: str = "One search per objective, same space, budget and seed"):
    """Best objective value in the population per EA iteration, one panel per objective (their scales differ).
    ``found``: one row per objective (the index), its ``history`` column the search history as split-oriented
    JSON (``iteration``, ``best_score``)."""
    import io

    import pandas as pd

    fig, axes = plt.subplots(1, len(found), figsize=(2.6 * len(found), 2.8), squeeze=False)
    for ax, (lab, r) in zip(axes[0], found.iterrows()):
        h = pd.read_json(io.StringIO(r.history), orient="split")
        ax.plot(h["iteration"], h["best_score"])
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel("iteration")
    axes[0][0].set_ylabel("best score")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
