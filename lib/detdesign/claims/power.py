"""The power gate of a seed-aware difference: how many seeds would decide it, and is that affordable?

:func:`seed_gate` joins :func:`detdesign.stats.seeds_for_power` (the seeds per model for 80% power at the measured
difference, its image SE and the instrument's pooled seed SD) with
:func:`~detdesign.claims.rules.descriptive_if_unaffordable` (beyond the profile's budget the row is
``descriptive``), so every study gates its relative claims the same way.
"""

from __future__ import annotations

import math

from detdesign.claims.rules import Decision, Difference, descriptive_if_unaffordable
from detdesign.stats import seeds_for_power


def seed_gate(decision: Decision, d: Difference, sigma: float, seed_hours: float, budget_hours: float,
              contrast: float = 2.0, margin: float = 0.0) -> Decision:
    """``decision`` (of the Difference ``d``) gated by the seeds for 80% power at ``d.diff + margin`` (the distance
    to a non-inferiority margin; 0 for a sign test), each seed costing ``seed_hours`` worker-hours; an unknown seed
    SD (NaN) needs an unknown number: ``inf``. ``contrast``: as in :func:`~detdesign.stats.seeds_for_power`."""
    se = d.se_image if math.isfinite(d.se_image) else 0.0
    need = seeds_for_power(d.diff + margin, sigma, se, contrast=contrast) if math.isfinite(sigma) else math.inf
    return descriptive_if_unaffordable(decision, need, 0, "seeds", seed_hours, budget_hours)


def equivalence_gate(decision: Decision, d: Difference, margin: float, sigma: float, seed_hours: float,
                     budget_hours: float, contrast: float = 2.0) -> Decision:
    """``decision`` of an equivalence claim (``|A - B| < margin``) gated by the seeds that give 80% power to put
    the interval inside ``+-margin`` when the true difference is the measured one: the distance to the nearer
    margin is ``margin - |d.diff|`` (a normal approximation of the two one-sided tests); a measured difference
    already at or beyond the margin cannot be shown equivalent by more seeds (``inf``)."""
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"an equivalence margin must be a positive number, got {margin!r}")
    room = margin - abs(d.diff)
    se = d.se_image if math.isfinite(d.se_image) else 0.0
    need = seeds_for_power(room, sigma, se, contrast=contrast) if room > 0 and math.isfinite(sigma) else math.inf
    return descriptive_if_unaffordable(decision, need, 0, "seeds", seed_hours, budget_hours)
