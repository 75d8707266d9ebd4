"""The verdict rules: every ``yes`` / ``no`` / ``partly`` of the ledger comes from one of these functions.

A rule returns a :class:`Decision`: the verdict (``holds``), the **lean** (what the measurement alone says, even
when the rule cannot decide), a **reason** category when it does not decide (:data:`REASONS`) and a sentence of
detail. :class:`~detdesign.claims.ledger.Claim` accepts a Decision as its ``holds`` and keeps all four.

Relative claims ("A is more accurate than B")
    A compared difference is a :class:`Difference` measured at one schedule (``schedule``: a multiple of the
    notebook's schedule S) with a 95% interval that includes seed variance (:func:`detdesign.stats.difference`).
    :func:`decide_difference` applies the **schedule-robustness rule**: the claim decides only when the difference
    was also measured at >= 2S with the same seeds and test images, its sign agrees at both schedules, the longer
    schedule's interval excludes the threshold, and the difference did not shrink by more than half. A sign flip
    or a shrink by more than half is ``schedule-dependent`` (a finding: the short schedule's answer is not the
    long one's); same sign but an interval that still contains the threshold is ``inconclusive``; a difference
    measured at S only is ``inconclusive`` with the reason ``needs 2S``. Of a ladder (S, 2S, 4S or S, 3S, 9S) the
    last two rungs decide.
:func:`decide_equivalence` / :func:`decide_non_inferiority`
    "as accurate as": the interval inside +-margin (equivalence) or above -margin (non-inferiority), on the
    longest schedule, the point estimate on the same side at every rung.
Absolute claims
    :func:`at_least`, :func:`at_most`, :func:`inside`, :func:`sign_outcome`, :func:`rank_outcome` and
    :func:`combine` (several sub-results into one row); :func:`timing_outcome` for wall-clock targets;
    :func:`converged_by_doubling` for "this training converged" (the metric at 2S minus at S below a tolerance).
Power
    :func:`descriptive_if_unaffordable`: a claim that did not decide and whose needed size (from
    :mod:`detdesign.stats`'s power helpers) costs more than the profile's budget is ``descriptive`` with that size
    stated; an affordable one stays ``inconclusive`` and says how many units would decide it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

from detdesign.claims.effect import Effect

HOLDS = ("yes", "partly", "no", "inconclusive", "schedule-dependent", "descriptive", "not tested")  # ledger verdicts
OUTCOMES = ("yes", "partly", "no", "inconclusive")
REASONS = ("precondition not met", "interval contains the threshold", "needs 2S", "schedule-dependent",
           "descriptive")


def _finite(*values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _number(*values) -> bool:
    """Real numbers, infinities allowed (an interval of unknown width is [-inf, +inf]), NaN not."""
    return all(isinstance(v, (int, float)) and not math.isnan(v) for v in values)


@dataclass(frozen=True)
class Decision:
    """What a rule decided: ``holds`` (a ledger verdict), ``lean`` (the measurement alone), ``reason`` (a category
    of :data:`REASONS` when it did not decide, else ""), ``detail`` (one sentence for the ledger's note) and
    ``effect`` (the number the rule compared with its threshold, for the figure of every claim; None when the rule
    had no single number)."""

    holds: str
    lean: str = ""
    reason: str = ""
    detail: str = ""
    effect: Effect | None = None

    def __post_init__(self):
        if self.holds not in HOLDS:
            raise ValueError(f"a Decision's holds must be one of {HOLDS}, got {self.holds!r}")
        if self.lean not in ("", *OUTCOMES):
            raise ValueError(f"a Decision's lean must be one of {OUTCOMES} or '', got {self.lean!r}")
        if self.reason and self.reason.split(":")[0] not in REASONS:
            raise ValueError(f"a Decision's reason must start with one of {REASONS}, got {self.reason!r}")


def decided(outcome: str, detail: str = "") -> Decision:
    """A Decision whose verdict is ``outcome`` itself (the lean equals the verdict; ``inconclusive`` gets the
    reason ``interval contains the threshold``)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    reason = "interval contains the threshold" if outcome == "inconclusive" else ""
    return Decision(outcome, outcome, reason, detail)


# -- absolute rules -------------------------------------------------------------------------------------------
def sign_outcome(lo: float, hi: float, threshold: float = 0.0) -> str:
    """``yes`` when the interval ``[lo, hi]`` lies above ``threshold``, ``no`` when below, else ``inconclusive``."""
    if not (_number(lo, hi) and _finite(threshold)) or lo > hi:
        raise ValueError(f"an interval needs lo <= hi (not NaN) and a finite threshold, got [{lo}, {hi}], {threshold}")
    return "yes" if lo > threshold else "no" if hi < threshold else "inconclusive"


def at_least(value: float, threshold: float, partly: float | None = None) -> str:
    """``yes`` when ``value >= threshold``, ``partly`` when ``value >= partly`` (if given), else ``no``; a NaN value
    is ``inconclusive`` (nothing was measured)."""
    if not _finite(value):
        return "inconclusive"
    if value >= threshold:
        return "yes"
    return "partly" if partly is not None and value >= partly else "no"


def at_most(value: float, threshold: float, partly: float | None = None) -> str:
    """``yes`` when ``value <= threshold``, ``partly`` when ``value <= partly`` (if given), else ``no``; NaN is
    ``inconclusive``."""
    if not _finite(value):
        return "inconclusive"
    if value <= threshold:
        return "yes"
    return "partly" if partly is not None and value <= partly else "no"


def inside(target: float, lo: float, hi: float, point: float, near: float) -> str:
    """Does our measurement reproduce the paper's ``target``? ``yes`` when it lies inside our interval
    ``[lo, hi]``, ``partly`` when within ``near`` of our ``point``, else ``no``."""
    if not _finite(target, lo, hi, point):
        return "inconclusive"
    return "yes" if lo <= target <= hi else "partly" if abs(point - target) <= near else "no"


def share_outcome(hits: int, total: int, partly_share: float = 0.5, near: int = 0) -> str:
    """``yes`` when every one of ``total`` items hits, ``partly`` when at least ``partly_share`` of them hit or come
    near (``near``: items that missed narrowly), else ``no``."""
    if total < 1 or not 0 <= hits <= total or not 0 <= near <= total - hits:
        raise ValueError(f"need 0 <= hits <= total, 0 <= near <= total - hits, total >= 1; got {hits}, {near}, "
                         f"{total}")
    return "yes" if hits == total else "partly" if hits + near >= partly_share * total else "no"


def rank_outcome(rhos, pvalues, alpha: float = 0.05) -> str:
    """A rank correlation per run: ``yes`` when every run's is positive at ``p < alpha``, ``partly`` when some are,
    ``no`` when none is and some is significantly negative, else ``inconclusive`` (within the noise)."""
    pairs = list(zip(rhos, pvalues))
    if not pairs:
        raise ValueError("rank_outcome needs at least one (rho, p) pair")
    pos = [r > 0 and p < alpha for r, p in pairs]
    neg = [r < 0 and p < alpha for r, p in pairs]
    return "yes" if all(pos) else "partly" if any(pos) else "no" if any(neg) else "inconclusive"


def combine(outcomes, mixed: str = "partly") -> str:
    """One verdict from several sub-results: all ``yes`` -> yes; all ``no`` -> no; ``yes`` and ``no`` both present
    -> ``mixed`` (``partly`` by default); otherwise (something undecided) ``inconclusive`` unless a ``no`` is there
    and ``mixed`` is ``"no"``."""
    outs = list(outcomes)
    if not outs or any(o not in OUTCOMES for o in outs):
        raise ValueError(f"combine needs outcomes from {OUTCOMES}, got {outs!r}")
    if all(o == "yes" for o in outs):
        return "yes"
    if all(o == "no" for o in outs):
        return "no"
    if "yes" in outs and "no" in outs:
        return mixed
    return "no" if mixed == "no" and "no" in outs else "inconclusive"


def all_of(outcomes) -> str:
    """A claim that needs every part: ``yes`` when all are yes, ``no`` when any is no, else ``inconclusive``."""
    outs = list(outcomes)
    if not outs or any(o not in OUTCOMES for o in outs):
        raise ValueError(f"all_of needs outcomes from {OUTCOMES}, got {outs!r}")
    return "yes" if all(o == "yes" for o in outs) else "no" if "no" in outs else "inconclusive"


def timing_outcome(lo: float, hi: float, threshold: float, want: str = "<=") -> str:
    """The verdict of a timing claim "``measured want threshold``" from the interval ``[lo, hi]`` of the measured
    value over repeats (e.g. :func:`detdesign.stats.ratio_of_medians`): ``yes`` when the whole interval satisfies
    it, ``no`` when none of it does, ``inconclusive`` when the threshold lies inside the timing noise."""
    if want not in ("<=", ">="):
        raise ValueError(f"want must be '<=' or '>=', got {want!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"a timing interval needs finite lo <= hi, got [{lo}, {hi}]")
    good, bad = (hi <= threshold, lo > threshold) if want == "<=" else (lo >= threshold, hi < threshold)
    return "yes" if good else "no" if bad else "inconclusive"


def timing_tiers(lo: float, hi: float, yes_at: float, partly_at: float) -> str:
    """A speed-up claim with two levels ("20-28x faster"): ``yes`` when the interval of the measured ratio lies at
    or above ``yes_at``, ``partly`` when it lies wholly between ``partly_at`` and ``yes_at``, ``no`` when below
    ``partly_at``, ``inconclusive`` when a level lies inside the timing noise."""
    top, low = timing_outcome(lo, hi, yes_at, ">="), timing_outcome(lo, hi, partly_at, ">=")
    if top == "yes":
        return "yes"
    if low == "no":
        return "no"
    return "partly" if top == "no" and low == "yes" else "inconclusive"


def converged_by_doubling(at_s: float, at_2s: float | None, tol: float = 0.01) -> Decision:
    """"This training converged": the metric at 2S minus the metric at S is below ``tol`` (a doubled schedule adds
    less than ``tol``). Without a 2S measurement the rule cannot decide (``needs 2S``)."""
    if at_2s is None:
        return Decision("inconclusive", "", "needs 2S", "converged: measured at S only; the doubling test needs 2S")
    if not _finite(at_s, at_2s):
        return Decision("inconclusive", "", "interval contains the threshold", "a non-finite metric")
    gain = at_2s - at_s
    out = "yes" if gain < tol else "no"
    return Decision(out, out, "", f"doubling test: metric(2S) - metric(S) = {gain:+.4f} (< {tol} converged)",
                    Effect(gain, threshold=tol, label="metric(2S) - metric(S)"))


# -- relative rules: the schedule-robustness rule ----------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """A compared difference A - B at one schedule: the point ``diff``, a 95% interval ``[lo, hi]`` that includes
    seed variance, the number of paired ``seeds``, the ``schedule`` as a multiple of S, and ``method`` (how the
    interval was made)."""

    diff: float
    lo: float
    hi: float
    seeds: int
    schedule: float = 1.0
    method: str = ""
    per_seed: tuple[float, ...] = ()  # each seed's own difference, for the ledger text
    se_image: float = math.nan  # the test-image SE of the difference (the power helpers' image noise)

    def __post_init__(self):
        if not (_finite(self.diff) and _number(self.lo, self.hi)) or not self.lo <= self.hi:
            raise ValueError(f"a Difference needs a finite diff and lo <= hi (an unknown width is [-inf, inf]), got "
                             f"{self.diff} [{self.lo}, {self.hi}]")
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"a Difference needs seeds >= 1 (an int), got {self.seeds!r}")
        if not _finite(self.schedule) or self.schedule <= 0:
            raise ValueError(f"schedule must be a positive multiple of S, got {self.schedule!r}")

    def text(self, fmt: str = "{:+.4f}", scale: float = 1.0) -> str:
        """``"+0.0145 [+0.0119, +0.0174]"`` (values times ``scale``, e.g. 100 for points)."""
        f = fmt.format
        return f"{f(scale * self.diff)} [{f(scale * self.lo)}, {f(scale * self.hi)}]"

    def seeds_text(self, fmt: str = "{:+.4f}", scale: float = 1.0) -> str:
        """Each seed's own difference, ``"+0.0247, +0.0044"`` (empty when not recorded)."""
        return ", ".join(fmt.format(scale * d) for d in self.per_seed)

    def at(self, schedule: float) -> Difference:
        """The same numbers labelled with another schedule multiple."""
        return replace(self, schedule=float(schedule))


def _rungs(rungs) -> list[Difference]:
    out = [rungs] if isinstance(rungs, Difference) else list(rungs)
    if not out or any(not isinstance(r, Difference) for r in out):
        raise TypeError("pass a Difference or a list of them (one per schedule, shortest first)")
    for a, b in itertools.pairwise(out):
        if b.schedule < 2 * a.schedule - 1e-9:
            raise ValueError(f"each rung must be at least twice the previous schedule, got {a.schedule} then "
                             f"{b.schedule}")
    return out


def _ladder_text(rungs: list[Difference], scale: float) -> str:
    return "; ".join(f"{r.schedule:g}S {r.text(scale=scale)}" for r in rungs)


def measured_at_s(outcome: str, detail: str = "") -> Decision:
    """A relative claim whose statistic (a rank order, a correlation over trained networks) was measured at the
    schedule S only: it cannot decide before the same measurement at 2S; the lean keeps ``outcome``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    return Decision("inconclusive", outcome, "needs 2S", detail or "measured at S only; the schedule-robustness "
                    "rule needs the same measurement at 2S")


def decide_difference(rungs, threshold: float = 0.0, scale: float = 1.0) -> Decision:
    """The schedule-robustness rule for "A - B > threshold" (see the module docstring). ``rungs``: one
    :class:`Difference` per schedule, shortest first (a single Difference: measured at S only)."""
    rs = _rungs(rungs)
    last = rs[-1]
    lean = sign_outcome(last.lo, last.hi, threshold)
    effect = Effect(last.diff, last.lo, last.hi, threshold, label=f"difference at {last.schedule:g}S").scaled(scale)
    return replace(_schedule_robust(rs, threshold, scale, lean), effect=effect)


def _schedule_robust(rs: list[Difference], threshold: float, scale: float, lean: str) -> Decision:
    last = rs[-1]
    if len(rs) == 1:
        return measured_at_s(lean, f"measured at {last.schedule:g}S only; the schedule-robustness rule needs the "
                             "same difference at 2S")
    prev = rs[-2]
    a, b = prev.diff - threshold, last.diff - threshold
    ladder = _ladder_text(rs, scale)
    if a * b < 0 or abs(b) < 0.5 * abs(a):
        how = "changed sign" if a * b < 0 else "shrank by more than half"
        return Decision("schedule-dependent", lean, "schedule-dependent",
                        f"the difference {how} from {prev.schedule:g}S to {last.schedule:g}S ({ladder})")
    if lean == "inconclusive":
        return Decision("inconclusive", lean, "interval contains the threshold",
                        f"same sign at both schedules, but the {last.schedule:g}S interval contains {threshold:g} "
                        f"({ladder})")
    return Decision(lean, lean, "", f"survives the doubled schedule ({ladder})")


def _margin_rule(rungs, margin: float, outcome, side, name: str) -> Decision:
    if not _finite(margin) or margin <= 0:
        raise ValueError(f"a margin must be a positive number, got {margin!r}")
    rs = _rungs(rungs)
    last = rs[-1]
    lean = outcome(last.lo, last.hi, margin)
    hi = margin if name == "equivalence" else math.nan
    effect = Effect(last.diff, last.lo, last.hi, -margin, hi, f"difference at {last.schedule:g}S, margin {margin:g}")
    return replace(_margin_decision(rs, margin, side, name, lean), effect=effect)


def _margin_decision(rs: list[Difference], margin: float, side, name: str, lean: str) -> Decision:
    last = rs[-1]
    if len(rs) == 1:
        return measured_at_s(lean, f"{name}: measured at {last.schedule:g}S only; the schedule-robustness rule "
                             "needs 2S")
    if len({side(r.diff, margin) for r in rs[-2:]}) > 1:
        return Decision("schedule-dependent", lean, "schedule-dependent", f"{name}: the point estimate crossed the "
                        f"margin between schedules ({_ladder_text(rs, 1.0)})")
    if lean == "inconclusive":
        return Decision("inconclusive", lean, "interval contains the threshold",
                        f"{name}: the interval at {last.schedule:g}S straddles the margin +-{margin:g}")
    return Decision(lean, lean, "", f"{name} within +-{margin:g}, robust to the doubled schedule")


def equivalence_outcome(lo: float, hi: float, margin: float) -> str:
    """``yes`` when ``[lo, hi]`` lies inside ``(-margin, margin)``, ``no`` when it lies wholly outside, else
    ``inconclusive``."""
    if not (_number(lo, hi) and _finite(margin)) or lo > hi:
        raise ValueError(f"need lo <= hi (not NaN) and a finite margin, got [{lo}, {hi}], {margin}")
    return "yes" if -margin < lo and hi < margin else "no" if lo > margin or hi < -margin else "inconclusive"


def non_inferiority_outcome(lo: float, hi: float, margin: float) -> str:
    """"A is as accurate as B" within ``margin``: ``yes`` when ``lo > -margin``, ``no`` when ``hi < -margin``."""
    if not (_number(lo, hi) and _finite(margin)) or lo > hi:
        raise ValueError(f"need lo <= hi (not NaN) and a finite margin, got [{lo}, {hi}], {margin}")
    return "yes" if lo > -margin else "no" if hi < -margin else "inconclusive"


def decide_equivalence(rungs, margin: float) -> Decision:
    """"A is as accurate as B" as equivalence: the longest schedule's interval inside +-``margin``."""
    return _margin_rule(rungs, margin, equivalence_outcome, lambda d, m: abs(d) < m, "equivalence")


def decide_non_inferiority(rungs, margin: float) -> Decision:
    """"A is not worse than B by more than ``margin``": the longest schedule's interval above -``margin``."""
    return _margin_rule(rungs, margin, non_inferiority_outcome, lambda d, m: d > -m, "non-inferiority")


# which undecided part names a combined row: a finding first, then a part no affordable size decides (the row cannot
# decide without it), then a part that more of the same measurement would decide
_UNDECIDED = ("schedule-dependent", "descriptive", "inconclusive")


def _lean(d: Decision) -> str:
    return d.lean or "inconclusive"


def combine_decisions(decisions, mixed: str = "partly", need_all: bool = False) -> Decision:
    """One row from several decided parts (the steps of a grid, the axes of a claim). When every part decided:
    :func:`combine` of their verdicts (``need_all``: :func:`all_of`, a claim that needs every part). Otherwise the
    row is undecided like its first undecided part, in the order schedule-dependent, descriptive, inconclusive
    (the lean combines the parts' leans). The effect is the naming part's (an undecided row), else the one part's
    that has an effect (None when several have one: no single number decides the row)."""
    ds = list(decisions)
    if not ds or any(not isinstance(d, Decision) for d in ds):
        raise TypeError("combine_decisions takes a non-empty list of Decision")
    rule = all_of if need_all else (lambda o: combine(o, mixed))
    lean = rule([_lean(d) for d in ds])
    detail = "; ".join(d.detail for d in ds if d.detail)
    effects = [d.effect for d in ds if d.effect is not None]
    single = effects[0] if len(effects) == 1 else None
    if all(d.holds in ("yes", "partly", "no") for d in ds):
        return Decision(rule([d.holds for d in ds]), lean, "", detail, single)
    if need_all and any(d.holds == "no" for d in ds):
        return Decision("no", lean, "", detail, single)
    first = next(d for kind in _UNDECIDED for d in ds if d.holds == kind)
    return Decision(first.holds, lean, first.reason, detail, first.effect or single)


# -- power: run it or call it descriptive -----------------------------------------------------------------------
def descriptive_if_unaffordable(decision: Decision, needed: float, have: int, unit: str, unit_hours: float,
                                budget_hours: float, why: str = "for 80% power") -> Decision:
    """A ``decision`` that did not decide (``inconclusive``) becomes ``descriptive`` when the units still needed
    (``needed - have`` seeds or networks, each costing ``unit_hours`` worker-hours) cost more than
    ``budget_hours``; an affordable one stays inconclusive and says how many units would decide it. ``needed``
    may be ``inf`` (no size decides, e.g. the image noise alone exceeds the effect); ``why`` ends the size's text."""
    if decision.holds != "inconclusive" or decision.reason == "precondition not met":
        return decision
    if not (isinstance(needed, (int, float)) and needed >= 0 and _finite(unit_hours, budget_hours)):
        raise ValueError(f"need needed >= 0 (inf allowed) and finite costs, got {needed}, {unit_hours}, "
                         f"{budget_hours}")
    more = math.inf if math.isinf(needed) else max(0, math.ceil(needed) - have)
    size = f"more {unit} than any budget (the test-image noise alone exceeds the effect)" if math.isinf(needed) \
        else f"{math.ceil(needed):,} {unit} {why}"
    cost = more * unit_hours
    if cost > budget_hours:
        extra = f"deciding needs {size} (about {cost:,.0f} worker-hours more, budget {budget_hours:g})" \
            if math.isfinite(cost) else size
        return Decision("descriptive", decision.lean, f"descriptive: needs {size}", _join(decision.detail, extra),
                        decision.effect)
    return replace(decision, detail=_join(decision.detail, f"{size} ({more} more, about {cost:.1f} worker-hours)"))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
