"""TinyNAS's named-dict structure format (the MAE-DET release) and its exchange with ZenNAS strings.

A TinyNAS structure is a list of dicts, e.g. ``{'class': 'SuperResK1KXK1', 'in': 32, 'out': 48, 's': 2, 'k': 5,
'L': 2, 'btn': 32}``; the released files wrap it as ``{'best_structures': [[...]], 'space_arch': 'CnnNet'}``.
Files are read with :func:`ast.literal_eval` (a parser of Python literals; nothing is executed).

**Two readings of depth.** TinyNAS counts a ``SuperResK1KXK1`` block's depth ``L`` in *units* (one unit = one
1x1-KxK-1x1 bottleneck); a ZenNAS ``SuperResK1KxK1`` sub-layer is *two* such units. So ``L`` units are
``L / 2`` ZenNAS sub-layers, and an odd ``L`` has no ZenNAS string (:func:`to_zen` says so). With this reading
the released MAE-DET-S backbone has 21.24 M parameters (the release: 21.2 M).

:func:`maedet_violations` lists which constraints of the official K1KxK1 mutator (TinyNAS ``space_k1kxk1.py``
and ``SuperResK1KXK1Mutator``) a structure breaks. The mutator enforces each constraint on the block it changes,
so a chain of mutations can leave a *neighbour* slightly outside ``in <= out <= 4 in`` or ``out >= next / 4``
(1.4% of children in a 3,000-step random walk); the stem, width, kernel, bottleneck-ratio, C2-depth and
layer-budget constraints hold for every child (``tests/test_tinynas_format.py``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from detdesign.arch.zen_format import ZenBlock, format_zen, parse_zen, smart_round

CLASSES = {"ConvKXBNRELU": ("in", "out", "s", "k"), "SuperResK1KXK1": ("in", "out", "s", "k", "L", "btn")}


@dataclass(frozen=True)
class TinyBlock:
    """One TinyNAS block; ``L`` and ``btn`` are 0 for ``ConvKXBNRELU``."""

    cls: str
    cin: int
    cout: int
    s: int
    k: int
    L: int = 0
    btn: int = 0

    # the ZenBlock interface (zen_units.expand, ZenNet, search.space.cost read these)
    @property
    def kind(self) -> str:
        return "conv" if self.cls == "ConvKXBNRELU" else "k1kxk1"

    @property
    def name(self) -> str:
        return self.cls

    @property
    def in_channels(self) -> int:
        return self.cin

    @property
    def out_channels(self) -> int:
        return self.cout

    @property
    def stride(self) -> int:
        return self.s

    @property
    def kernel(self) -> int:
        return self.k

    @property
    def bottleneck(self) -> int | None:
        return self.btn if self.kind == "k1kxk1" else None

    @property
    def units(self) -> int:
        """Residual units (TinyNAS's ``L``; 1 for the conv block)."""
        return self.L if self.kind == "k1kxk1" else 1

    @property
    def sub_layers(self) -> float:
        """ZenNAS's reading of the depth: ``L / 2`` sub-layers (1 for the conv block)."""
        return self.L / 2 if self.kind == "k1kxk1" else 1

    def as_dict(self) -> dict:
        d = {"class": self.cls, "in": self.cin, "out": self.cout, "s": self.s, "k": self.k}
        return d if self.cls == "ConvKXBNRELU" else {**d, "L": self.L, "btn": self.btn}


def _block(d, pos: int) -> TinyBlock:
    if not isinstance(d, dict) or d.get("class") not in CLASSES:
        raise ValueError(f"block {pos}: expected a dict with 'class' in {sorted(CLASSES)}, got {d!r}")
    keys = CLASSES[d["class"]]
    missing = [k for k in keys if k not in d]
    extra = sorted(set(d) - {"class", *keys})
    if missing or extra:
        raise ValueError(f"block {pos} ({d['class']}): missing {missing}, unexpected {extra}; expected keys {keys}")
    vals = [d[k] for k in keys]
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in vals):
        raise ValueError(f"block {pos} ({d['class']}): every field must be a positive int, got {d}")
    return TinyBlock(d["class"], *vals)


def parse_tinynas(source) -> list[TinyBlock]:
    """Blocks from a TinyNAS file's text, its dict, or a list of block dicts; the chain must be consistent."""
    if isinstance(source, str):
        try:
            obj = ast.literal_eval(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError) as err:
            raise ValueError(f"a TinyNAS structure must be a Python literal (a dict with 'best_structures' or a list "
                             f"of block dicts); this text is not one ({type(err).__name__}: {err})") from None
    else:
        obj = source
    if isinstance(obj, dict):
        if "best_structures" not in obj:
            raise ValueError("a TinyNAS structure dict needs the key 'best_structures'")
        best = obj["best_structures"]
        if not isinstance(best, list) or not best:
            raise ValueError(f"'best_structures' must be a non-empty list of structures, got {best!r:.60}")
        obj = best[0]
    if not isinstance(obj, list) or not obj:
        raise ValueError(f"expected a non-empty list of block dicts, got {type(obj).__name__}")
    blocks = [_block(d, i) for i, d in enumerate(obj, start=1)]
    for i in range(1, len(blocks)):
        if blocks[i].cin != blocks[i - 1].cout:
            raise ValueError(f"block {i + 1}: 'in' {blocks[i].cin} differs from the previous 'out' "
                             f"{blocks[i - 1].cout}")
    return blocks


def format_tinynas(blocks: list[TinyBlock]) -> str:
    """The release's file format (round-trips through :func:`parse_tinynas`)."""
    rows = ",\n    ".join(repr(b.as_dict()) for b in blocks)
    return "{'best_structures': [[\n    " + rows + "]],\n 'space_arch': 'CnnNet'}"


def to_zen(blocks: list[TinyBlock]) -> str:
    """The ZenNAS string of ``blocks`` (``L`` units -> ``L / 2`` sub-layers; an odd ``L`` is an error)."""
    parts = []
    for i, b in enumerate(blocks, start=1):
        if b.cls == "ConvKXBNRELU":
            parts.append(ZenBlock("conv", b.cin, b.cout, b.s, 1, b.k))
            continue
        if b.L % 2:
            raise ValueError(f"block {i}: L={b.L} TinyNAS units is {b.L / 2} ZenNAS sub-layers (a ZenNAS "
                             "SuperResK1KxK1 sub-layer is two units); only even L has a ZenNAS string")
        parts.append(ZenBlock("k1kxk1", b.cin, b.cout, b.s, b.L // 2, b.k, b.btn))
    return format_zen(parts)


def from_zen(structure) -> list[TinyBlock]:
    """TinyNAS blocks of a ZenNAS structure made of ``SuperConvK?BNRELU`` and ``SuperResK1K?K1`` blocks."""
    out = []
    for i, z in enumerate(parse_zen(structure) if isinstance(structure, str) else structure, start=1):
        if z.kind == "conv" and z.sub_layers == 1:
            out.append(TinyBlock("ConvKXBNRELU", z.in_channels, z.out_channels, z.stride, z.kernel))
        elif z.kind == "k1kxk1":
            out.append(TinyBlock("SuperResK1KXK1", z.in_channels, z.out_channels, z.stride, z.kernel,
                                 2 * z.sub_layers, z.bottleneck))
        else:
            raise ValueError(f"block {i} ({z.name}): TinyNAS's K1KxK1 space has no such block")
    return out


def is_tinynas(text: str) -> bool:
    """Whether a structure string is in TinyNAS's named-dict format (a ZenNAS string starts with a block name)."""
    return isinstance(text, str) and text.lstrip()[:1] in ("{", "[")


def parse_structure(structure):
    """Blocks of a ZenNAS string, a TinyNAS named-dict text, or an already parsed list (returned as a list)."""
    if isinstance(structure, str):
        return parse_tinynas(structure) if is_tinynas(structure) else parse_zen(structure)
    return list(structure)


def tinynas_layers(blocks: list[TinyBlock]) -> int:
    """TinyNAS's layer count (its budget): 1 per conv block, 3 per K1KxK1 unit."""
    return sum(1 if b.cls == "ConvKXBNRELU" else 3 * b.L for b in blocks)


def maedet_violations(blocks: list[TinyBlock], max_channels: int = 2048, max_stem: int = 32, btn_ratio: int = 10,
                      c2_max_units: int = 3, kernels=(3, 5), budget_layers: int | None = None) -> list[str]:
    """Rules of the official K1KxK1 mutator that ``blocks`` break (empty when none). One line per breach."""
    bad = []
    for i, b in enumerate(blocks):
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        tag = f"block {i + 1} ({b.cls})"
        if i == 0:
            if b.cls != "ConvKXBNRELU" or b.cout > max_stem:
                bad.append(f"{tag}: the stem is a ConvKXBNRELU with out <= {max_stem}")
        elif b.cls != "SuperResK1KXK1":
            bad.append(f"{tag}: only SuperResK1KXK1 blocks after the stem")
            continue
        if nxt is not None and b.cout > nxt.cout:
            bad.append(f"{tag}: out {b.cout} > next out {nxt.cout}")
        if b.cout > max_channels or b.cout % 8:
            bad.append(f"{tag}: out {b.cout} must be a multiple of 8 up to {max_channels}")
        if i == 0:
            continue
        if not b.cin <= b.cout <= 4 * b.cin:  # the mutator clamps out to [in, 4 in]
            bad.append(f"{tag}: needs in <= out <= 4 in, got in {b.cin}, out {b.cout}")
        if nxt is not None and b.cout < smart_round(nxt.cout / 4, 8):
            bad.append(f"{tag}: out {b.cout} < next out / 4 ({smart_round(nxt.cout / 4, 8)})")
        if b.btn * btn_ratio < b.cout and b.btn != smart_round(b.cout / btn_ratio, 8):
            bad.append(f"{tag}: needs btn >= out/{btn_ratio}, got btn {b.btn}, out {b.cout}")
        if b.k not in kernels:
            bad.append(f"{tag}: kernel {b.k} not in {kernels}")
        if i == 1 and c2_max_units < b.L:
            bad.append(f"{tag}: the first bottleneck stage (C2) has at most {c2_max_units} units, got L={b.L}")
        elif i > 1 and budget_layers is not None and budget_layers // 3 // (len(blocks) - 2) < b.L:
            bad.append(f"{tag}: L={b.L} exceeds the per-block cap budget // 3 // {len(blocks) - 2}")
    if budget_layers is not None and tinynas_layers(blocks) > budget_layers:
        bad.append(f"{tinynas_layers(blocks)} layers exceed the budget of {budget_layers}")
    return bad
