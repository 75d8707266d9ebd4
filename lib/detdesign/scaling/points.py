"""The points of notebook 04's compound-scaling grid, labelled: the base, every single axis at every step, the
paper's compound rule, the (alpha, beta, gamma) candidates at phi = 1 and the searched rule scaled to every step.

Each point is a row of :func:`detdesign.scaling.matched_grid.grid_points` / :func:`~detdesign.scaling.matched_grid.
matched` (realised blocks, last-stage channels, input size, MACs ratio to the base, within +-5% or not), indexed
by a readable label (``"width k=1"``, ``"compound (1.20, 1.10, 1.15) k=2"``) with ``paper_rule`` marking the
paper's coefficients.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from detdesign.arch.efficientnet import round_filters, round_repeats
from detdesign.profiles import GridSizes
from detdesign.scaling.compound import PAPER, Compound, grid
from detdesign.scaling.matched_grid import GridSpec, grid_points, matched


def spec(S: GridSizes) -> GridSpec:
    """The grid of this profile: the 16-px base, steps ``S.steps``, the paper's compound rule, +-5% matching."""
    return GridSpec(steps=tuple(float(k) for k in S.steps))


def _label(row) -> str:
    if row["axis"] == "compound":
        a, b, g = row["compound"]
        return f"compound ({a:.2f}, {b:.2f}, {g:.2f}) k={row['k']:g}"
    return "base" if row["axis"] == "base" else f"{row['axis']} k={row['k']:g}"


def _with_labels(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["label"] = [_label(r) for _, r in df.iterrows()]
    df["paper_rule"] = [r["compound"] == PAPER for _, r in df.iterrows()]
    return df.drop_duplicates("label").set_index("label")


def points(S: GridSizes) -> pd.DataFrame:
    """The base, every single axis at every step and the paper's compound rule at every step (one row each:
    realised blocks, last-stage channels, input size, MACs ratio to the base and whether it is within +-5%)."""
    return _with_labels(grid_points(spec(S)))


def abg_rules() -> pd.DataFrame:
    """The phi = 1 constraint set of the paper's grid search: (alpha, beta, gamma) on a 0.1 grid with
    ``alpha beta^2 gamma^2 = 2 +- 0.1`` and at least two of them above 1 (the single axes are in the grid already)."""
    g = grid(step=0.1, tolerance=0.1)
    return g[(g[["alpha", "beta", "gamma"]] > 1.0).sum(axis=1) >= 2].reset_index(drop=True)


def _realised(row) -> tuple:
    cfg = row["config"]
    return (tuple(round_repeats(st.repeats, cfg.depth) for st in cfg.stages),
            tuple(round_filters(st.out_channels, cfg.width) for st in cfg.stages), int(row["size"]))


def candidate_points(S: GridSizes) -> pd.DataFrame:
    """The (alpha, beta, gamma) candidates at 2x the base MACs: every rule of :func:`abg_rules` matched (phi
    searched so the realised MACs are nearest 2x), rules that realise the *same network* merged (ceil-rounded
    repeats, 8-channel widths and integer inputs make many rules coincide on a small base; ``rules`` lists them),
    points outside +-5% dropped; then the paper's network and ``S.abg_points`` others spread evenly by alpha."""
    sp = spec(S)
    rules = pd.concat([pd.DataFrame([dict(zip(("alpha", "beta", "gamma"), PAPER))]), abg_rules()])
    found: dict[tuple, dict] = {}
    for r in rules.drop_duplicates(["alpha", "beta", "gamma"]).itertuples():
        m = matched(sp, "compound", 1.0, Compound(r.alpha, r.beta, r.gamma))
        if m["within"]:
            found.setdefault(_realised(m), {**m, "rules": []})["rules"].append((r.alpha, r.beta, r.gamma))
    nets = list(found.values())  # the paper's network first (its rule was matched first)
    others = nets[1:]
    n = min(S.abg_points, len(others))
    picks = [others[round(i * (len(others) - 1) / max(1, n - 1))] for i in range(n)] if n > 1 else others[:n]
    return _with_labels(pd.DataFrame([nets[0], *picks]))


def searched_points(S: GridSizes, best: Compound) -> pd.DataFrame:
    """The searched rule ``best`` scaled to every step of the grid (matched like every other point)."""
    sp = replace(spec(S), compounds=(best,))
    return _with_labels(pd.DataFrame([matched(sp, "compound", float(k), best) for k in sp.steps]))


def union(*tables: pd.DataFrame) -> pd.DataFrame:
    """The points of several tables, each label once (the first table's row wins)."""
    out = pd.concat(tables)
    return out[~out.index.duplicated(keep="first")]
