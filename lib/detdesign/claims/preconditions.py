"""Preconditions shared by the detection claims (each a :class:`~detdesign.claims.ledger.Precondition`).

- :func:`learned_classes` -- "the detector learned classes": its test AP lies at least :data:`LEARNED_MARGIN`
  above the no-class floor of the same test split (perfect boxes with random class scores,
  :func:`detdesign.detection.evaluate.no_class_floor`). Below it the detector found the boxes but not what the
  objects are, and a comparison of two such detectors compares localisation noise (testbed v1: floor 0.109,
  reference detector 0.107-0.121).
"""

from __future__ import annotations

from detdesign.claims.ledger import Precondition

LEARNED_MARGIN = 0.05  # AP above the no-class floor that counts as "learned classes"


def learned_classes(ap: float, floor: float, margin: float = LEARNED_MARGIN, who: str = "the detector") -> Precondition:
    """``ap - floor >= margin`` as a precondition named for ``who`` (pass the *lowest* AP of the compared
    detectors: every one of them must have learned classes)."""
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 AP, got {margin!r}")
    return Precondition.check(f"{who} learned classes (test AP - no-class floor {floor:.3f})", ap - floor, ">=",
                              margin, "{:+.3f}")
