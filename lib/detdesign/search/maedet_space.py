"""MAE-DET's official detection search space: K1KxK1 blocks after a conv stem, mutated as TinyNAS does
(``space_k1kxk1.py``, ``SuperResK1KXK1Mutator``, ``ConvKXBNRELUMutator``; read for understanding, rewritten).

One child = ``blocks_per_child`` block mutations; each picks a random block (up to one try per block until the
structure is within the layer budget) and changes one field:

- stem (``ConvKXBNRELU``): ``out`` only, x one of ``channel_factors``, rounded to 8, at most ``max_stem`` and at
  most the next block's out;
- a K1KxK1 block, coarse phase: one of ``out``, ``k``, ``btn``, ``L``; fine ("minor") phase: ``out`` or ``btn``:
  - out: x factor, rounded to 8, <= ``max_channels``, clamped to [in, 4 in], <= next block's out, and raised to
    next out / 4 when below it;
  - k: a *different* kernel from ``kernels``;
  - btn: x factor, rounded to 8, <= ``max_channels`` and <= out;
  - L: + one of ``unit_deltas`` (>= 1, different); the first bottleneck stage (C2) keeps <= ``c2_max_units``
    units, the others <= budget_layers // 3 // (blocks - 2) when a layer budget is set;
  - always afterwards: btn >= out / ``btn_ratio`` (raised to it).
Then every block's ``in`` is re-chained and kernels are kept <= feature map / 1.5. Unlike the official code,
:func:`mutate` never returns its parent unchanged (it retries), and all randomness comes from the caller's
``random.Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from detdesign.arch.tinynas_format import (
    TinyBlock,
    format_tinynas,
    from_zen,
    is_tinynas,
    parse_structure,
    tinynas_layers,
)
from detdesign.arch.zen_format import smart_round

# ResNet-50's four bottleneck stages (3/4/6/3 units, out 256..2048, btn 64..512) in TinyNAS's format; a 3x3/32
# conv stands for the 7x7/64 stem + max-pool. 1 + 3 x 16 = 49 layers; x 1.86 = 91, MAE-DET's layer budget.
RESNET50_LIKE = [
    TinyBlock("ConvKXBNRELU", 3, 32, 2, 3),
    TinyBlock("SuperResK1KXK1", 32, 256, 2, 3, 3, 64),
    TinyBlock("SuperResK1KXK1", 256, 512, 2, 3, 4, 128),
    TinyBlock("SuperResK1KXK1", 512, 1024, 2, 3, 6, 256),
    TinyBlock("SuperResK1KXK1", 1024, 2048, 2, 3, 3, 512),
]
R50_LAYER_BUDGET = 91
# the official search's initial structure (TinyNAS configs/detection/R50_FLOPs.py; budget: R50's FLOPs, 91 layers)
OFFICIAL_START = [
    TinyBlock("ConvKXBNRELU", 3, 32, 2, 3),
    TinyBlock("SuperResK1KXK1", 32, 256, 2, 3, 1, 64),
    TinyBlock("SuperResK1KXK1", 256, 512, 2, 3, 1, 128),
    TinyBlock("SuperResK1KXK1", 512, 768, 2, 3, 1, 256),
    TinyBlock("SuperResK1KXK1", 768, 1024, 1, 3, 1, 256),
    TinyBlock("SuperResK1KXK1", 1024, 2048, 2, 3, 1, 512),
]


@dataclass(frozen=True)
class MaeDetSpace:
    """The official K1KxK1 space's constants (``space_k1kxk1.py``) and the search's layer budget."""

    channel_factors: tuple[float, ...] = (1.5, 1.25, 0.8, 0.6, 0.5)
    kernels: tuple[int, ...] = (3, 5)
    unit_deltas: tuple[int, ...] = (-2, -1, 1, 2)
    max_channels: int = 2048
    max_stem: int = 32
    btn_ratio: int = 10
    c2_max_units: int = 3
    budget_layers: int | None = None  # TinyNAS layers (conv 1, K1KxK1 unit 3); MAE-DET: 1.86x the baseline's
    blocks_per_child: int = 2
    image_size: int = 224

    def mutate(self, structure, rng: random.Random, coarse: bool = True, population: int | None = None) -> str:
        """The EA's interface (:class:`~detdesign.search.evolution.SearchConfig` ``space``): a child of a TinyNAS
        (or ZenNAS) structure as TinyNAS text, the storage format of this space (odd ``L`` has no ZenNAS string).
        ``coarse=False`` is the fine ("minor") phase of coarse-to-fine; ``population`` is not used."""
        return format_tinynas(mutate(_tiny(structure), rng, self, minor=not coarse))

    def __post_init__(self):
        if len(self.kernels) < 2:
            raise ValueError(f"a kernel mutation needs >= 2 kernels to pick a different one, got {self.kernels}")
        if self.blocks_per_child < 1 or self.max_channels < 8:
            raise ValueError("blocks_per_child must be >= 1 and max_channels >= 8")


def _tiny(structure) -> list[TinyBlock]:
    if isinstance(structure, str) and not is_tinynas(structure):
        return from_zen(structure)
    return parse_structure(structure)


def _channels(c: int, rng: random.Random, space: MaeDetSpace) -> int:
    return min(space.max_channels, smart_round(rng.choice(space.channel_factors) * c, 8))


def _stem(b: TinyBlock, nxt: TinyBlock, rng: random.Random, space: MaeDetSpace) -> TinyBlock:
    return replace(b, cout=min(_channels(b.cout, rng, space), space.max_stem, nxt.cout))


def _block(blocks: list[TinyBlock], i: int, rng: random.Random, space: MaeDetSpace, minor: bool) -> TinyBlock:
    b, nxt = blocks[i], blocks[i + 1] if i + 1 < len(blocks) else None
    method = rng.choice(("out", "btn") if minor else ("out", "k", "btn", "L"))
    if method == "out":
        out = max(b.cin, min(4 * b.cin, _channels(b.cout, rng, space)))
        if nxt is not None:
            out = min(nxt.cout, out)
            out = max(out, smart_round(nxt.cout / 4, 8))
        b = replace(b, cout=out)
    elif method == "k":
        b = replace(b, k=rng.choice([k for k in space.kernels if k != b.k]))
    elif method == "btn":
        b = replace(b, btn=min(b.cout, _channels(b.btn, rng, space)))
    else:
        units = [u for u in (max(1, b.L + d) for d in space.unit_deltas) if u != b.L]
        L = rng.choice(units) if units else b.L
        if i == 1:
            L = min(space.c2_max_units, L)
        elif space.budget_layers:
            L = min(space.budget_layers // 3 // (len(blocks) - 2), L)
        b = replace(b, L=L)
    if b.btn < b.cout / space.btn_ratio:
        b = replace(b, btn=smart_round(b.cout / space.btn_ratio, 8))
    return b


def _rechain(blocks: list[TinyBlock], image_size: int) -> list[TinyBlock]:
    out, res = [], float(image_size)
    for i, b in enumerate(blocks):
        cin = b.cin if i == 0 else out[-1].cout
        k = b.k
        while k * 1.5 > res and k > 1:  # the official kernel <= feature map / 1.5 rule
            k -= 2
        out.append(replace(b, cin=cin, k=k))
        res /= b.s
    return out


def _one(blocks: list[TinyBlock], rng: random.Random, space: MaeDetSpace, minor: bool) -> list[TinyBlock]:
    new = blocks
    for _ in range(len(blocks)):
        i = rng.randrange(len(blocks))
        if blocks[i].cls == "ConvKXBNRELU":
            if i == len(blocks) - 1:
                continue
            changed = _stem(blocks[i], blocks[i + 1], rng, space)
        else:
            changed = _block(blocks, i, rng, space, minor)
        new = _rechain([*blocks[:i], changed, *blocks[i + 1:]], space.image_size)
        if space.budget_layers is None or tinynas_layers(new) <= space.budget_layers:
            break
    return new


def mutate(blocks: list[TinyBlock], rng: random.Random, space: MaeDetSpace = MaeDetSpace(),
           minor: bool = False, max_tries: int = 100) -> list[TinyBlock]:
    """A child of ``blocks``: ``space.blocks_per_child`` official block mutations (``minor``: the fine phase of
    coarse-to-fine, ``out``/``btn`` only), retried until the child differs from its parent."""
    if any(b.cls not in ("ConvKXBNRELU", "SuperResK1KXK1") for b in blocks):
        raise ValueError("the MAE-DET space holds ConvKXBNRELU and SuperResK1KXK1 blocks only")
    for _ in range(max_tries):
        child = list(blocks)
        for _ in range(space.blocks_per_child):
            child = _one(child, rng, space, minor)
        if child != list(blocks):
            return child
    raise RuntimeError(f"no mutation changed the structure in {max_tries} tries; the space cannot move from it")


def scaled(blocks: list[TinyBlock], divisor: int) -> list[TinyBlock]:
    """``blocks`` with every width divided by ``divisor`` (rounded to 8, at least 8), depth and kernels kept:
    ResNet-50's layout at a CPU-sized budget (``scaled(RESNET50_LIKE, 8)``: out 32..256, btn 8..64)."""
    if not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor must be a positive int, got {divisor!r}")
    out: list[TinyBlock] = []
    for i, b in enumerate(blocks):
        cout = max(8, smart_round(b.cout / divisor, 8))
        btn = max(8, smart_round(b.btn / divisor, 8)) if b.kind == "k1kxk1" else 0
        out.append(replace(b, cin=b.cin if i == 0 else out[-1].cout, cout=cout, btn=btn))
    return out


def scaled_space(divisor: int, image_size: int, budget_layers: int | None = R50_LAYER_BUDGET) -> MaeDetSpace:
    """The official space with its width limits divided like :func:`scaled` (max width 2048 / divisor, stem
    <= max(8, 32 / divisor)); mutation rules, kernels, C2 depth and the layer budget unchanged."""
    return MaeDetSpace(max_channels=max(8, 2048 // divisor), max_stem=max(8, 32 // divisor),
                       budget_layers=budget_layers, image_size=image_size)


def budget_network(divisor: int) -> str:
    """MAE-DET's budget network: ResNet-50's TinyNAS layout with widths / ``divisor`` (TinyNAS text)."""
    return format_tinynas(scaled(RESNET50_LIKE, divisor))


def budget_macs(divisor: int, image_size: int) -> int:
    """Backbone MACs of :func:`budget_network` at ``image_size``: the budget of every network of notebook 03."""
    from detdesign.search.space import cost

    return cost(budget_network(divisor), image_size).macs
