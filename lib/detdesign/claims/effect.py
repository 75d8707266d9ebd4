"""The number a claim's verdict rests on: what the figure of every claim draws (``claims.figure``).

A rule of :mod:`detdesign.claims.rules` that compares a measured value with a threshold returns it inside its
:class:`~detdesign.claims.rules.Decision` (``decision.effect``): the schedule-robustness rule gives the deciding
rung's difference and 95% interval against the threshold, the equivalence rule the band +-margin, the doubling test
the gain against its tolerance. A study may also hand one to a :class:`~detdesign.claims.ledger.Claim` itself
(``Claim(effect=Effect(...))``) for an absolute claim (a correlation against the paper's value, a speed-up against
its target). The ledger stores it in the ``effect_*`` columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NAN = math.nan
FIELDS = ("value", "lo", "hi", "threshold", "threshold_hi", "label")  # -> ledger columns effect_<field>


@dataclass(frozen=True)
class Effect:
    """``value`` with its 95% interval ``[lo, hi]`` (NaN when none), compared with ``threshold`` (the decision
    threshold, a margin's lower edge or the paper's value) or the band ``[threshold, threshold_hi]``; ``label``
    says what the value is, in its unit (``"compound - frontier, top-1 points, 2S"``)."""

    value: float
    lo: float = NAN
    hi: float = NAN
    threshold: float = NAN
    threshold_hi: float = NAN
    label: str = ""

    def __post_init__(self):
        nums = [self.value, self.lo, self.hi, self.threshold, self.threshold_hi]
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in nums):
            raise TypeError(f"an Effect's numbers must be floats, got {nums}")
        if math.isnan(self.value):
            raise ValueError("an Effect needs a value (not NaN); leave Claim.effect None when there is no number")
        if not (math.isnan(self.lo) or math.isnan(self.hi)) and self.lo > self.hi:
            raise ValueError(f"an Effect's interval needs lo <= hi, got [{self.lo}, {self.hi}]")

    def row(self) -> dict:
        """The ledger columns ``effect_value`` ... ``effect_label``."""
        return {f"effect_{f}": getattr(self, f) for f in FIELDS}

    def scaled(self, scale: float, label: str | None = None) -> Effect:
        """The same effect in another unit (``scale`` times every number, e.g. 100 for points)."""
        s = float(scale)
        return Effect(s * self.value, s * self.lo, s * self.hi, s * self.threshold, s * self.threshold_hi,
                      self.label if label is None else label)


COLUMNS = tuple(f"effect_{f}" for f in FIELDS)
