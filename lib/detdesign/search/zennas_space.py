"""Zen-NAS's CIFAR search space ``XXBL`` and its mutation, as the official search runs it (ZenNAS
``SearchSpace/search_space_XXBL.py`` and ``evolution_search.py``; read for understanding, rewritten).

One child of a parent structure (``evolution_search.get_new_random_structure_str``):

- ``replaces`` times (1 while the population holds <= 10 members, else 2), draw a block index uniformly *with
  replacement*; an index drawn twice is mutated once;
- the block is replaced by one string drawn uniformly from the flattened candidate list of that block:
  - a ``SuperConvK?BNRELU`` (the stem and the final 1x1 conv) keeps its kernel and stride and gets
    ``out`` x one of :data:`WIDTH_FACTORS`, clipped to [8, 2048] and rounded to a multiple of 8
    (:func:`~detdesign.arch.zen_format.smart_round` with base 8), ``sub_layers`` = 1;
  - a residual block gets every combination of type (``SuperResK1K{3,5,7}K1`` and ``SuperResK{3,5,7}K{3,5,7}``
    with equal kernels), ``out`` and ``bottleneck`` (each x one of :data:`WIDTH_FACTORS`, clipped and rounded as
    above) and ``sub_layers`` + {0, +-1, +-2} (> 0), the stride kept;
- channels are re-chained (each block's ``in`` = the previous block's ``out``);
- every residual block with ``sub_layers >= 6`` is split in two blocks of ``6 // 2 = 3`` and ``6 - 3 = 3``
  sub-layers (``split_layer_threshold = 6``; the second has stride 1 and in = out). As in the official
  ``SuperResKXKX.split``, the parts come from the threshold, not from the block: a block of 7 or 8 sub-layers
  becomes 3 + 3.

The budget of the official CIFAR scripts: <= 1M parameters *including the classifier* (``fc`` on the last
block's channels), ``max_layers = 18`` where the layer count is the sum of the blocks' ``sub_layers`` fields
(``MasterNet.get_num_layers``), input 32 x 32, batch 64. Every proxy is scored on the network *without residual
links* (``no_reslink=True`` in ``compute_nas_score``); the winner is trained with them.
"""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass, replace

from detdesign.arch.zen_format import ZenBlock, format_zen, parse_zen, smart_round
from detdesign.search.space import rechain

# official initial structure of every CIFAR search script (Zen_NAS_cifar_params1M.sh and the other proxies')
CIFAR_INITIAL = ("SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,1,8,1)SuperResK3K3(16,32,2,16,1)"
                 "SuperResK3K3(32,64,2,32,1)SuperResK3K3(64,64,2,32,1)SuperConvK1BNRELU(64,128,1,1)")
WIDTH_FACTORS = (2.5, 2.0, 1.5, 1.25, 1.0, 1 / 1.25, 1 / 1.5, 1 / 2, 1 / 2.5)
SUBLAYER_DELTAS = (0, 1, 2, -1, -2)
KERNELS = (3, 5, 7)
SPLIT_THRESHOLD = 6


def widths(c: int, max_channels: int = 2048) -> list[int]:
    """``c`` x every width factor, clipped to [8, ``max_channels``], rounded to 8, distinct, largest first."""
    return sorted({smart_round(min(max_channels, max(8, c * f)), base=8) for f in WIDTH_FACTORS}, reverse=True)


@functools.lru_cache(maxsize=4096)
def candidates(block: ZenBlock, max_channels: int = 2048) -> tuple[ZenBlock, ...]:
    """Every block the XXBL space may put in place of ``block`` (module docstring), in a fixed order; cached
    (a search asks for the same blocks' lists thousands of times, up to 2,430 blocks each)."""
    if block.kind == "conv":
        return tuple(replace(block, out_channels=o, sub_layers=1) for o in widths(block.out_channels, max_channels))
    if block.kind not in ("kxkx", "k1kxk1"):
        raise ValueError(f"the XXBL space has no {block.name} blocks; use SuperResK?K? or SuperResK1K?K1")
    depths = sorted({block.sub_layers + d for d in SUBLAYER_DELTAS if block.sub_layers + d > 0}, reverse=True)
    out = []
    for kind, k in itertools.product(("k1kxk1", "kxkx"), KERNELS):
        for o, d, b in itertools.product(widths(block.out_channels, max_channels), depths,
                                         widths(block.bottleneck, max_channels)):
            out.append(ZenBlock(kind, block.in_channels, o, block.stride, d, k, b,
                                kernel2=k if kind == "kxkx" else None))
    return tuple(out)


def split_deep(blocks: list[ZenBlock], threshold: int = SPLIT_THRESHOLD) -> list[ZenBlock]:
    """Split each residual block with ``sub_layers >= threshold`` into ``threshold // 2`` and
    ``threshold - threshold // 2`` sub-layers (the official rule, module docstring)."""
    out = []
    for b in blocks:
        if b.kind != "conv" and b.sub_layers >= threshold:
            first = threshold // 2
            out += [replace(b, sub_layers=first),
                    replace(b, in_channels=b.out_channels, stride=1, sub_layers=threshold - first)]
        else:
            out.append(b)
    return out


def num_layers(structure) -> int:
    """Zen-NAS's layer count: the sum of the blocks' ``sub_layers`` (``MasterNet.get_num_layers``)."""
    blocks = parse_zen(structure) if isinstance(structure, str) else structure
    return sum(b.sub_layers for b in blocks)


@dataclass(frozen=True)
class XXBLSpace:
    """The Zen-NAS CIFAR space (module docstring). ``replaces``: blocks replaced per child after the first
    ``early_population`` members (1 before, as the official search does)."""

    max_channels: int = 2048
    replaces: int = 2
    early_population: int = 10

    def __post_init__(self):
        if self.replaces < 1 or self.max_channels < 8:
            raise ValueError(f"need replaces >= 1 and max_channels >= 8, got {self.replaces}, {self.max_channels}")

    def mutate(self, structure: str, rng: random.Random, coarse: bool = True, population: int | None = None) -> str:
        """A child of ``structure``; ``coarse`` is ignored (Zen-NAS has one phase). ``population``: the current
        population size (``None`` = a late member: ``replaces`` blocks)."""
        blocks = parse_zen(structure)
        n = 1 if population is not None and population <= self.early_population else self.replaces
        for i in sorted({rng.randrange(len(blocks)) for _ in range(n)}):
            blocks[i] = rng.choice(candidates(blocks[i], self.max_channels))
        return format_zen(split_deep(rechain(blocks)))


def zen_budget(params: float, macs: float, sub_layers: int):
    """Zen-NAS's CIFAR-10 budget: parameters with the 10-way classifier, the sub-layer count, and a MACs cap at
    32 px (not in the paper: it keeps CPU training affordable)."""
    from detdesign.search.space import Budget

    return Budget(params=params, macs=macs, sub_layers=sub_layers, resolution=32, classes=10)
