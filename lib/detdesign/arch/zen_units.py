"""What a ZenNAS block means: its expansion into residual units, as the official code builds them.

Semantics (idstcv/ZenNAS ``PlainNet/*.py``), per sub-layer of a block:

- ``SuperConvKxBNRELU``: one conv(k, stride on the first sub-layer) + BN + ReLU; no residual.
- ``SuperResKxKy``: one basic unit ``conv k (in->btn, stride) BN ReLU, conv k2 (btn->out) BN``.
- ``SuperResK1KxK1``: two bottleneck units ``1x1 (in->btn) BN ReLU, kxk (btn->btn) BN ReLU, 1x1 (btn->out)
  BN``; the second unit is never strided.
- ``SuperResIDWExKx``: two inverted-residual units; the first ``1x1 (in->d1) BN ReLU, depthwise k BN ReLU,
  1x1 (d1->btn) BN`` ends in ``bottleneck`` channels with ``d1 = smart_round(btn*E, 8)``; the second maps
  ``btn -> out`` through ``d2 = smart_round(out*E, 8)``.
- Only the first unit of a block is strided. With residual links, every unit is followed by an add and a
  ReLU; the first unit of each block always has a projection shortcut (1x1 conv *with* bias + BN), a later
  unit has one only when its input and output shapes differ, otherwise identity. ``no_reslink`` drops the
  shortcuts (the units keep their final ReLU). ``no_bn`` drops BN from the main path only; a projection
  shortcut keeps its BN, as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass

from detdesign.arch.tinynas_format import TinyBlock
from detdesign.arch.zen_format import ZenBlock, smart_round


@dataclass(frozen=True)
class ConvSpec:
    """conv(k x k, stride, groups, no bias) [+ BN] [+ ReLU]."""

    cin: int
    cout: int
    k: int
    stride: int = 1
    groups: int = 1
    relu: bool = True


@dataclass(frozen=True)
class UnitSpec:
    """A sequence of convs; ``residual`` is ``none`` (plain), ``identity`` or ``proj``."""

    convs: tuple[ConvSpec, ...]
    residual: str
    post_relu: bool  # ReLU after the (residual) sum; False for plain conv units (their convs carry it)

    @property
    def cin(self) -> int:
        return self.convs[0].cin

    @property
    def cout(self) -> int:
        return self.convs[-1].cout

    @property
    def stride(self) -> int:
        s = 1
        for c in self.convs:
            s *= c.stride
        return s


def _res(convs: list[ConvSpec], first_of_block: bool, no_reslink: bool) -> UnitSpec:
    convs = [*convs[:-1], ConvSpec(**{**convs[-1].__dict__, "relu": False})]
    if no_reslink:
        kind = "none"
    elif first_of_block:
        kind = "proj"
    else:
        shape_change = convs[0].cin != convs[-1].cout or any(c.stride > 1 for c in convs)
        kind = "proj" if shape_change else "identity"
    return UnitSpec(tuple(convs), kind, post_relu=True)


def _expand_tiny(block, no_reslink: bool) -> list[UnitSpec]:
    """A TinyNAS block: the conv block, or ``L`` bottleneck units (only the first strided, with a projection)."""
    cin, out, s, k, btn = block.cin, block.cout, block.s, block.k, block.btn
    if block.kind == "conv":
        return [UnitSpec((ConvSpec(cin, out, k, s),), "none", post_relu=False)]
    return [_res([ConvSpec(cin if u == 0 else out, btn, 1), ConvSpec(btn, btn, k, s if u == 0 else 1),
                  ConvSpec(btn, out, 1)], u == 0, no_reslink) for u in range(block.L)]


def expand(block: ZenBlock, no_reslink: bool = False) -> list[UnitSpec]:
    """The residual units of ``block`` in forward order (see the module docstring). A TinyNAS block
    (:class:`~detdesign.arch.tinynas_format.TinyBlock`) expands to its ``L`` units: ``L = 2 x sub_layers`` gives
    exactly the units of the ZenNAS ``SuperResK1KxK1`` block, and an odd ``L`` (which has no ZenNAS string) the
    same chain one unit longer or shorter."""
    if isinstance(block, TinyBlock):
        return _expand_tiny(block, no_reslink)
    units, cin, stride = [], block.in_channels, block.stride
    k, btn, out = block.kernel, block.bottleneck, block.out_channels
    for i in range(block.sub_layers):
        first = i == 0
        if block.kind == "conv":
            units.append(UnitSpec((ConvSpec(cin, out, k, stride),), "none", post_relu=False))
        elif block.kind == "kxkx":
            units.append(_res([ConvSpec(cin, btn, k, stride), ConvSpec(btn, out, block.kernel2)], first,
                              no_reslink))
        elif block.kind == "k1kxk1":
            for j, c0 in enumerate((cin, out)):
                s = stride if j == 0 else 1
                units.append(_res([ConvSpec(c0, btn, 1), ConvSpec(btn, btn, k, s), ConvSpec(btn, out, 1)],
                                  first and j == 0, no_reslink))
        elif block.kind == "idw":
            e = block.expansion
            d1, d2 = smart_round(btn * e, 8), smart_round(out * e, 8)
            units.append(_res([ConvSpec(cin, d1, 1), ConvSpec(d1, d1, k, stride, groups=d1),
                               ConvSpec(d1, btn, 1)], first, no_reslink))
            units.append(_res([ConvSpec(btn, d2, 1), ConvSpec(d2, d2, k, 1, groups=d2),
                               ConvSpec(d2, out, 1)], False, no_reslink))
        else:  # pragma: no cover - ZenBlock kinds are closed by the parser
            raise AssertionError(block.kind)
        cin, stride = out, 1
    return units


def _out_res(res: int, k: int, stride: int) -> int:
    pad = (k - 1) // 2
    return (res + 2 * pad - k) // stride + 1


def block_params(block: ZenBlock, no_reslink: bool = False, no_bn: bool = False) -> int:
    """Parameter count of ``block`` (conv weights, BN weight+bias, projection conv weight+bias+BN)."""
    total = 0
    for unit in expand(block, no_reslink):
        for c in unit.convs:
            total += c.cin // c.groups * c.cout * c.k * c.k + (0 if no_bn else 2 * c.cout)
        if unit.residual == "proj":
            total += unit.cin * unit.cout + unit.cout + 2 * unit.cout
    return total


def block_macs(block: ZenBlock, resolution: int, no_reslink: bool = False) -> tuple[int, int]:
    """Multiply-accumulates of the block's convolutions at a square input; returns ``(macs, out_res)``."""
    macs, res = 0, resolution
    for unit in expand(block, no_reslink):
        r = res
        for c in unit.convs:
            r = _out_res(r, c.k, c.stride)
            macs += c.cin // c.groups * c.cout * c.k * c.k * r * r
        if unit.residual == "proj":
            rp = _out_res(res, 1, unit.stride)
            macs += unit.cin * unit.cout * rp * rp
        res = r
    return macs, res


def official_flops(block: ZenBlock, resolution: int) -> tuple[float, int]:
    """The official ``get_FLOPs`` of a block with residual links (BN counted as res^2*C).

    It reproduces two quirks of the official code: resolutions use ``res // stride``, and a projection
    shortcut of a strided unit is charged at ``(out_res / stride)^2`` (the stride is applied twice).
    """
    flops, res = 0.0, resolution
    for unit in expand(block, no_reslink=False):
        r = res
        for c in unit.convs:
            flops += c.cin * c.cout * c.k ** 2 * r ** 2 // c.stride ** 2 // c.groups
            r = r // c.stride
            flops += r ** 2 * c.cout  # BN
        if unit.residual == "proj":
            flops += unit.cin * unit.cout * (r / unit.stride) ** 2 + (r / unit.stride) ** 2 * unit.cout
        res = r
    return flops, res
