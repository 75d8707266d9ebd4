"""The claims ledger and the verdict rules.

- :mod:`detdesign.claims.ledger` -- :class:`Claim` rows, :class:`Precondition`, writing, reading and rendering
  the ledgers (``data/claims/*.csv`` and the README table);
- :mod:`detdesign.claims.rules` -- every rule that turns a measurement into ``yes`` / ``no`` / ``partly`` /
  ``inconclusive`` / ``schedule-dependent`` / ``descriptive`` (the schedule-robustness rule for relative claims,
  equivalence, thresholds, timing, the power gate), each returning a :class:`Decision`;
- :mod:`detdesign.claims.preconditions` -- preconditions shared by the detection claims ("the detector learned
  classes");
- :mod:`detdesign.claims.summary` -- which claims of each paper hold (the README's top);
- :mod:`detdesign.claims.effect` -- :class:`Effect`, the number a verdict rests on;
- :mod:`detdesign.claims.figure` -- the figure of every claim (one panel per paper, coloured by verdict);
- :mod:`detdesign.claims.power` -- :func:`~detdesign.claims.power.seed_gate`: the seeds a difference needs, and
  whether they are affordable.
"""

from detdesign.claims import figure, summary
from detdesign.claims.effect import Effect
from detdesign.claims.ledger import (
    COLUMNS,
    END,
    HOLDS,
    KINDS,
    START,
    Claim,
    Ledger,
    Precondition,
    interval,
    load_all,
    preconditions_text,
    record,
    render_readme,
    replace_between,
    tables,
    to_markdown,
    verdict,
    verdict_text,
)
from detdesign.claims.preconditions import LEARNED_MARGIN, learned_classes
from detdesign.claims.rules import (
    OUTCOMES,
    REASONS,
    Decision,
    Difference,
    all_of,
    at_least,
    at_most,
    combine,
    combine_decisions,
    converged_by_doubling,
    decide_difference,
    decide_equivalence,
    decide_non_inferiority,
    decided,
    descriptive_if_unaffordable,
    equivalence_outcome,
    inside,
    measured_at_s,
    non_inferiority_outcome,
    rank_outcome,
    share_outcome,
    sign_outcome,
    timing_outcome,
    timing_tiers,
)

__all__ = [
    "COLUMNS", "END", "HOLDS", "KINDS", "LEARNED_MARGIN", "OUTCOMES", "REASONS", "START", "Claim", "Decision",
    "Difference", "Effect", "Ledger", "Precondition", "all_of", "at_least", "at_most", "combine", "combine_decisions",
    "converged_by_doubling", "decide_difference", "decide_equivalence", "decide_non_inferiority", "decided",
    "descriptive_if_unaffordable", "equivalence_outcome", "figure", "inside", "interval", "learned_classes", "load_all",
    "measured_at_s", "non_inferiority_outcome", "preconditions_text", "rank_outcome", "record", "render_readme",
    "replace_between", "share_outcome", "sign_outcome", "summary", "tables", "timing_outcome", "timing_tiers",
    "to_markdown",
    "verdict", "verdict_text",
]
