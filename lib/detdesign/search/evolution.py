"""One seeded evolutionary search (Zen-NAS / MAE-DET) over ZenNAS-format backbones, any proxy as objective.

Algorithm (factsheet B and D): start from ``initial``; until the population holds ``population`` members,
add budget-meeting mutants of it; then for ``iterations`` steps pick a random parent, mutate it (coarse for
the first ``coarse_fraction`` of the iterations, then kernel/width only when ``coarse_to_fine``), keep the
child only if it meets the budget and is new, score it, and drop the lowest-scoring member when the
population overflows. Returns the best structure and the whole history.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from detdesign.arch import ZenNet
from detdesign.progress import progress
from detdesign.proxies import compute, list_proxies
from detdesign.search.space import Budget, SearchSpace, cost


@dataclass(frozen=True)
class Objective:
    """A registered proxy scored on ``ZenNet(structure)`` with a fixed input shape, seed and options."""

    proxy: str
    resolution: int = 64
    batch_size: int = 8
    repeats: int = 1
    seed: int = 0
    options: tuple[tuple[str, object], ...] = ()
    no_reslink: bool = False  # score the net without residual links (what the official Zen-NAS search does)
    num_classes: int = 1  # classifier outputs; label-based proxies (grad_norm, snip, ...) need >= 2

    def __post_init__(self):
        if self.proxy not in list_proxies():
            raise ValueError(f"unknown proxy {self.proxy!r}; registered proxies: {', '.join(list_proxies())}")

    def __call__(self, structure: str) -> float:
        net = ZenNet(structure, num_classes=self.num_classes, no_reslink=self.no_reslink)
        return compute(self.proxy, net, resolution=self.resolution, batch_size=self.batch_size, seed=self.seed,
                       repeats=self.repeats, **dict(self.options)).value


@dataclass(frozen=True)
class SearchConfig:
    """EA sizes and schedule; ``space`` is any object with ``mutate(structure, rng, coarse, population)``
    (:class:`~detdesign.search.space.SearchSpace`, :class:`~detdesign.search.zennas_space.XXBLSpace`)."""

    population: int = 32
    iterations: int = 500
    coarse_to_fine: bool = False
    coarse_fraction: float = 0.5
    seed: int = 0
    space: object = field(default_factory=SearchSpace)  # SearchSpace, XXBLSpace: anything with .mutate()

    def __post_init__(self):
        if self.population < 1 or self.iterations < 0:
            raise ValueError(f"need population >= 1 and iterations >= 0, got {self.population}, {self.iterations}")
        if not 0 <= self.coarse_fraction <= 1:
            raise ValueError(f"coarse_fraction must lie in [0, 1], got {self.coarse_fraction}")
        if not callable(getattr(self.space, "mutate", None)):
            raise TypeError(f"space must have a mutate(structure, rng, coarse, population) method, got "
                            f"{type(self.space).__name__}; use SearchSpace() or XXBLSpace()")


@dataclass(frozen=True)
class SearchResult:
    """Best structure and score, the per-iteration history, and the cost of the search."""

    best: str
    score: float
    history: pd.DataFrame
    seconds: float
    scored: int


def _child(parent: str, rng: random.Random, cfg: SearchConfig, coarse: bool, budget: Budget, seen: set,
           population: int, tries: int = 20) -> str | None:
    for _ in range(tries):
        child = cfg.space.mutate(parent, rng, coarse, population=population)
        if child not in seen and cost(child, budget.resolution, budget.classes).within(budget):
            return child
    return None


def evolve(initial: str, objective: Callable[[str], float], budget: Budget, cfg: SearchConfig,
           desc: str = "search") -> SearchResult:
    """Run the EA (module docstring); ``objective`` maps a structure string to a score (higher = better)."""
    start_cost = cost(initial, budget.resolution, budget.classes)
    if not start_cost.within(budget):
        raise ValueError(f"the initial structure does not meet the budget ({start_cost} vs {budget}): the "
                         "search cannot start; raise the budget or start from a smaller structure")
    rng, t0 = random.Random(cfg.seed), time.perf_counter()
    first = objective(initial)
    if not (isinstance(first, (int, float)) and math.isfinite(first)):
        raise ValueError(f"the objective scores the initial structure {first!r}: a search needs a finite start "
                         "(an infinite score would stay the best forever, a NaN compares false); check the proxy "
                         "for overflow (Zen-NAS: use BN-rescaled scores) or start from another structure")
    pop: dict[str, float] = {initial: first}
    seen, history = {initial}, []
    bar = progress(total=cfg.iterations, desc=desc, leave=False)
    for it in range(-(cfg.population - 1), cfg.iterations):
        coarse = not cfg.coarse_to_fine or it < cfg.coarse_fraction * cfg.iterations
        parent = initial if it < 0 else rng.choice(sorted(pop))
        child = _child(parent, rng, cfg, coarse, budget, seen, len(pop))
        score = math.nan
        if child is not None:
            seen.add(child)
            score = objective(child)
            if math.isfinite(score):
                pop[child] = score
                if len(pop) > cfg.population:
                    del pop[min(pop, key=pop.get)]
        best = max(pop, key=pop.get)
        history.append({"iteration": it, "child_score": score, "best_score": pop[best], "coarse": coarse,
                        "population": len(pop), "seconds": time.perf_counter() - t0})
        if it >= 0:
            bar.update(1)
    bar.close()
    best = max(pop, key=pop.get)
    return SearchResult(best, pop[best], pd.DataFrame(history), time.perf_counter() - t0, len(seen))
