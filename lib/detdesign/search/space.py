"""Search space, budget and mutation of ZenNAS-format backbones (Zen-NAS and MAE-DET evolutionary search).

Mutation follows the official mutators (factsheet B and D): a child replaces ``blocks_per_child`` randomly
chosen blocks of its parent. A *coarse* mutation may change a block's type (``SuperResKxKx`` <->
``SuperResK1KxK1``), kernel, output width, bottleneck width and depth; a *fine* one (MAE-DET's
coarse-to-fine schedule, second half of the iterations) only its kernel and widths. Widths are multiplied by
one of ``width_factors`` and rounded to a multiple of 8 within [8, ``max_channels``]; depths change by
``depth_deltas``; the bottleneck stays within [out/10, out] (MAE-DET's constraint). Strides never change, so
a detection backbone keeps its five stages C1..C5; the stem (block 0) only changes width.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from detdesign.arch.tinynas_format import parse_structure
from detdesign.arch.zen_format import ZenBlock, format_zen, parse_zen
from detdesign.arch.zen_units import block_macs, block_params, expand


@dataclass(frozen=True)
class SearchSpace:
    """What a mutation may change (MAE-DET's candidate sets by default)."""

    width_factors: tuple[float, ...] = (1.5, 1.25, 0.8, 0.6, 0.5)
    kernels: tuple[int, ...] = (3, 5)
    depth_deltas: tuple[int, ...] = (-2, -1, 1, 2)
    kinds: tuple[str, ...] = ("kxkx", "k1kxk1")
    max_depth: int = 6  # sub_layers of one block
    max_channels: int = 1024
    blocks_per_child: int = 2

    def __post_init__(self):
        if not self.width_factors or any(f <= 0 for f in self.width_factors):
            raise ValueError(f"width_factors must be positive, got {self.width_factors}")
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(f"kernels must be odd and >= 1, got {self.kernels}")
        if set(self.kinds) - {"kxkx", "k1kxk1"}:
            raise ValueError(f"kinds must be drawn from ('kxkx', 'k1kxk1'), got {self.kinds}")
        if self.blocks_per_child < 1 or self.max_depth < 1:
            raise ValueError("blocks_per_child and max_depth must be >= 1")

    def mutate(self, structure: str, rng: random.Random, coarse: bool = True, population: int | None = None) -> str:
        """:func:`mutate` in this space (``population`` is not used here; the XXBL space uses it)."""
        return mutate(structure, rng, self, coarse)


@dataclass(frozen=True)
class Budget:
    """Upper bounds a candidate must meet: backbone MACs at ``resolution``, parameters, conv layers.

    ``None`` leaves a bound out. ``layers`` counts the main-path convs (a ``SuperResK1KxK1`` sub-layer = 6,
    a ``SuperResKxKx`` sub-layer = 2), i.e. the depth a detector's gradient travels; ``sub_layers`` bounds
    Zen-NAS's own count, the sum of the blocks' ``sub_layers`` fields (its ``max_layers``). ``classes`` > 0
    adds a classifier (``Linear(last out, classes)``) to the parameters, as Zen-NAS's CIFAR budget counts it.
    """

    macs: float | None = None
    params: float | None = None
    layers: int | None = None
    resolution: int = 224
    sub_layers: int | None = None
    classes: int = 0

    def __post_init__(self):
        if self.classes < 0:
            raise ValueError(f"budget classes must be >= 0 (0 = no classifier counted), got {self.classes}")
        for name in ("macs", "params", "layers", "sub_layers"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"budget {name} must be a positive finite number (or None for no bound), got {v!r}")
        if self.resolution < 32 or self.resolution % 32:  # CIFAR's 32 is the smallest
            raise ValueError(f"budget resolution must be a positive multiple of 32, got {self.resolution}")


@dataclass(frozen=True)
class Cost:
    """What a budget checks, measured analytically (no network is built)."""

    macs: int
    params: int
    layers: int
    sub_layers: int = 0

    def within(self, budget: Budget) -> bool:
        return ((budget.macs is None or self.macs <= budget.macs)
                and (budget.params is None or self.params <= budget.params)
                and (budget.layers is None or self.layers <= budget.layers)
                and (budget.sub_layers is None or self.sub_layers <= budget.sub_layers))


def cost(structure, resolution: int, classes: int = 0) -> Cost:
    """Backbone MACs at ``resolution``, parameters (+ a ``classes``-way linear classifier when > 0), main-path
    conv count and the sum of ``sub_layers`` of a structure."""
    blocks = parse_structure(structure)
    macs, res, params, layers = 0, resolution, 0, 0
    for b in blocks:
        m, res = block_macs(b, res)
        macs += m
        params += block_params(b)
        layers += sum(len(u.convs) for u in expand(b))
    if classes:
        params += blocks[-1].out_channels * classes + classes
    return Cost(macs, params, layers, sum(b.sub_layers for b in blocks))


def _width(c: int, factor: float, space: SearchSpace) -> int:
    return int(min(space.max_channels, max(8, round(c * factor / 8) * 8)))


def _mutate_block(b: ZenBlock, rng: random.Random, space: SearchSpace, coarse: bool, stem: bool) -> ZenBlock:
    if stem:
        return replace(b, out_channels=_width(b.out_channels, rng.choice(space.width_factors), space))
    fields = ["kernel", "out", "btn"] + (["depth", "kind"] if coarse else [])
    what = rng.choice(fields)
    if what == "kernel":
        k = rng.choice(space.kernels)
        return replace(b, kernel=k, kernel2=k if b.kind == "kxkx" else None)
    if what == "out":
        out = _width(b.out_channels, rng.choice(space.width_factors), space)
        return replace(b, out_channels=out, bottleneck=min(max(b.bottleneck, _width(out / 10, 1, space)), out))
    if what == "btn":
        btn = _width(b.bottleneck, rng.choice(space.width_factors), space)
        return replace(b, bottleneck=min(max(btn, _width(b.out_channels / 10, 1, space)), b.out_channels))
    if what == "depth":
        return replace(b, sub_layers=min(space.max_depth, max(1, b.sub_layers + rng.choice(space.depth_deltas))))
    kind = rng.choice(space.kinds)
    return replace(b, kind=kind, kernel2=b.kernel if kind == "kxkx" else None, expansion=None)


def rechain(blocks: list[ZenBlock]) -> list[ZenBlock]:
    """``blocks`` with each block's input channels set to the previous block's output channels."""
    out = [blocks[0]]
    for b in blocks[1:]:
        out.append(replace(b, in_channels=out[-1].out_channels))
    return out


def mutate(structure: str, rng: random.Random, space: SearchSpace, coarse: bool = True) -> str:
    """A child of ``structure``: ``space.blocks_per_child`` blocks mutated, channels re-chained."""
    blocks = parse_zen(structure)
    for i in rng.sample(range(len(blocks)), min(space.blocks_per_child, len(blocks))):
        if blocks[i].kind not in ("conv", "kxkx", "k1kxk1"):
            continue  # IDW blocks are kept as they are (not in this search space)
        blocks[i] = _mutate_block(blocks[i], rng, space, coarse, stem=blocks[i].kind == "conv")
    return format_zen(rechain(blocks))


@dataclass(frozen=True)
class _Draw:
    """One stage allocation (C2..C5) before the common width multiplier is chosen."""

    depths: tuple[int, ...]
    shape: tuple[float, ...]  # relative widths
    ratio: tuple[float, ...]  # bottleneck / out (1 for SuperResKxKx)
    kernels: tuple[int, ...]
    kinds: tuple[str, ...]

    @staticmethod
    def sample(rng: random.Random) -> _Draw:
        kinds = tuple(rng.choice(("kxkx", "k1kxk1")) for _ in range(4))
        return _Draw(depths=tuple(rng.randint(1, 4) for _ in range(4)),
                     shape=tuple(2 ** (i + 1) * 2 ** rng.uniform(-1, 1) for i in range(4)),
                     ratio=tuple(rng.choice((0.25, 0.5, 1.0)) if k == "k1kxk1" else 1.0 for k in kinds),
                     kernels=tuple(rng.choice((3, 5)) for _ in range(4)), kinds=kinds)

    def structure(self, m: float, stem: int = 16) -> str:
        blocks = [ZenBlock("conv", 3, stem, 2, 1, 3)]
        for s, r, d, k, kind in zip(self.shape, self.ratio, self.depths, self.kernels, self.kinds):
            w = min(1024, max(8, round(m * s / 8) * 8))
            btn = max(8, round(w * r / 8) * 8)
            blocks.append(ZenBlock(kind, blocks[-1].out_channels, w, 2, d, k, btn,
                                   kernel2=k if kind == "kxkx" else None))
        return format_zen(blocks)


def sample_allocations(n: int, macs: float, resolution: int, seed: int, tolerance: float = 0.05) -> list[str]:
    """``n`` five-stage backbones with deliberately different stage allocations at about ``macs`` MACs.

    Each draw picks per stage (C2..C5) a depth in 1..4, a width ratio in [0.5, 2] around the doubling
    ResNet profile, a bottleneck ratio, kernel 3 or 5 and the block type; one common width multiplier is then
    found by bisection so the backbone's MACs at ``resolution`` lie within ``tolerance`` of ``macs``. Draws that
    cannot reach the target are skipped. Seeded and deterministic.
    """
    if n < 1 or macs <= 0:
        raise ValueError(f"need n >= 1 and macs > 0, got n={n}, macs={macs}")
    rng, out = random.Random(seed), []
    for _ in range(50 * n):
        draw = _Draw.sample(rng)
        lo, hi = 1.0, 512.0
        for _ in range(40):
            mid = (lo * hi) ** 0.5
            lo, hi = (mid, hi) if cost(draw.structure(mid), resolution).macs < macs else (lo, mid)
        s = draw.structure(lo)
        if abs(cost(s, resolution).macs / macs - 1) <= tolerance and s not in out:
            out.append(s)
            if len(out) == n:
                return out
    raise ValueError(f"could not place {n} backbones at {macs:.3g} MACs; raise the budget or the tolerance")
