"""Evolutionary architecture search over ZenNAS-format backbones (Zen-NAS, MAE-DET).

``evolve(initial, Objective(proxy), Budget(...), SearchConfig(...))`` -> :class:`SearchResult`;
``sample_allocations`` draws backbones of equal MACs with different stage allocations.
"""

from detdesign.search.evolution import Objective, SearchConfig, SearchResult, evolve
from detdesign.search.space import Budget, Cost, SearchSpace, cost, mutate, sample_allocations
from detdesign.search.zennas_space import CIFAR_INITIAL, XXBLSpace

__all__ = [
    "CIFAR_INITIAL",
    "Budget",
    "Cost",
    "Objective",
    "SearchConfig",
    "SearchResult",
    "SearchSpace",
    "XXBLSpace",
    "cost",
    "evolve",
    "mutate",
    "sample_allocations",
]
