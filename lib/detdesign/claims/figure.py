"""The figure of every claim: per paper one panel, per claim one row, coloured by verdict.

A row with an :class:`~detdesign.claims.effect.Effect` draws the measured value and its 95% interval against the
threshold it was compared with (a line; a band for an equivalence margin) on its own x-axis, since the claims'
units differ (AP, top-1 points, Spearman's rho, a speed ratio). A row without a single number (a rank order, a
combination of parts) shows its verdict and what was measured, in words. An undecided row also names what the
measurement alone says (``alone: no``). Only the papers' claims are drawn; the
fidelity checks and the project's targets have their own table. Drawn by ``make claims`` from ``data/claims``.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from detdesign.claims import summary
from detdesign.claims.effect import COLUMNS as EFFECT_COLUMNS

COLOURS = {"yes": "#1b9e77", "partly": "#e6ab02", "no": "#d95f02", "inconclusive": "#7f7f7f",
           "schedule-dependent": "#7570b3", "descriptive": "#4a90b8", "not tested": "#bdbdbd"}
ROW_HEIGHT = 0.34  # inches per claim
HEADER = 0.42  # inches per paper heading


def effects(df: pd.DataFrame) -> pd.DataFrame:
    """The papers' claims in reading order with numeric ``effect_*`` columns (NaN where a row has none)."""
    rows = df[df["kind"] == "paper"].copy()
    for col in EFFECT_COLUMNS[:-1]:
        rows[col] = pd.to_numeric(rows[col], errors="coerce") if col in rows else np.nan
    rows["family"] = rows["notebook"].map(summary.paper_of)
    order = {p: i for i, p in enumerate(dict.fromkeys(summary.PAPERS.values()))}
    rows["_order"] = rows["family"].map(order)
    return rows.sort_values(["_order"], kind="stable").drop(columns="_order")


def _limits(r) -> tuple[float, float]:
    finite = [v for v in (r.effect_value, r.effect_lo, r.effect_hi, r.effect_threshold, r.effect_threshold_hi)
              if math.isfinite(v)]
    lo, hi = min(finite), max(finite)
    pad = 0.25 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1e-3)
    return lo - pad, hi + pad


def _draw_effect(ax, r, colour: str) -> None:
    left, right = _limits(r)
    if math.isfinite(r.effect_threshold) and math.isfinite(r.effect_threshold_hi):
        ax.axvspan(r.effect_threshold, r.effect_threshold_hi, color="#000000", alpha=0.08, lw=0)
    elif math.isfinite(r.effect_threshold):
        ax.axvline(r.effect_threshold, color="#333333", lw=0.9, ls="--")
    lo = r.effect_lo if math.isfinite(r.effect_lo) else left  # an interval of unknown width reaches the axis edge
    hi = r.effect_hi if math.isfinite(r.effect_hi) else right
    if not (math.isnan(r.effect_lo) and math.isnan(r.effect_hi)):
        ax.plot([lo, hi], [0, 0], color=colour, lw=2.2, solid_capstyle="butt")
    ax.plot([r.effect_value], [0], "o", color=colour, ms=5)
    ax.set_xlim(left, right)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.grid(False)  # the threshold line is the one vertical line of a row
    ax.tick_params(axis="x", labelsize=6, length=2, pad=1)
    ax.text(1.01, 0, r.effect_label, transform=ax.get_yaxis_transform(), fontsize=6, va="center", color="#555555")


def draw(df: pd.DataFrame) -> plt.Figure:
    """The figure of ``df`` (a ledger as :func:`~detdesign.claims.ledger.load_all` returns it)."""
    rows = effects(df)
    if rows.empty:
        raise ValueError("no paper claims in the ledger: run `make reproduce PROFILE=full` first")
    slots = _slots(rows)
    heads = sum(isinstance(s, str) for s in slots)
    height = HEADER * heads + ROW_HEIGHT * (len(slots) - heads) + 0.4
    fig = plt.figure(figsize=(11, height))
    grid = fig.add_gridspec(len(slots), 2, width_ratios=(1.0, 1.25), wspace=0.05, hspace=0.9,
                            height_ratios=[HEADER if isinstance(s, str) else ROW_HEIGHT for s in slots],
                            left=0.01, right=0.86, top=1 - 0.2 / height, bottom=0.2 / height)
    for k, item in enumerate(slots):
        label = fig.add_subplot(grid[k, 0])
        label.axis("off")
        if isinstance(item, str):  # a paper's heading
            label.text(0, 0.2, item, fontsize=9, fontweight="bold", va="center")
            fig.add_subplot(grid[k, 1]).axis("off")
            continue
        r = rows.iloc[item]
        colour = COLOURS.get(r.holds, "#000000")
        label.text(0, 0.5, f"{r.claim_id}", fontsize=7, va="center", family="monospace")
        label.text(0.42, 0.5, r.holds, fontsize=7, va="center", color=colour, fontweight="bold")
        if r.lean and r.lean != r.holds:
            label.text(0.72, 0.5, f"alone: {r.lean}", fontsize=6, va="center", color="#555555")
        ax = fig.add_subplot(grid[k, 1])
        ax.set_yticks([])
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        if math.isfinite(r.effect_value):
            _draw_effect(ax, r, colour)
        else:
            ax.axis("off")
            ax.text(0, 0.5, summary.short(r.we_measured, 95), fontsize=6, va="center", color="#555555")
    handles = [plt.Line2D([], [], color=c, marker="o", lw=2, label=v) for v, c in COLOURS.items()
               if v in set(rows["holds"])]
    fig.legend(handles=handles, loc="upper right", fontsize=7, frameon=False, ncol=1)
    return fig


def _slots(rows: pd.DataFrame) -> list[str | int]:
    """Grid rows top to bottom: a paper's name for its heading, else the claim's position in ``rows``."""
    out = []
    for fam in dict.fromkeys(rows["family"]):
        out.append(fam)
        out += [i for i, f in enumerate(rows["family"]) if f == fam]
    return out
