"""ZenNAS structure strings: a storage format, parsed by a real parser into frozen dataclasses.

Grammar (no nesting, blocks concatenated without separators)::

    structure := block+
    block     := NAME "(" int ("," int)* ")"
    NAME      := SuperConvK{1,3,5,7}BNRELU            args (in, out, stride, sub_layers)
               | SuperResK{3,5,7}K{3,5,7}             args (in, out, stride, bottleneck, sub_layers)
               | SuperResK1K{3,5,7}K1                 args (in, out, stride, bottleneck, sub_layers)
               | SuperResIDWE{1,2,4,6}K{3,5,7}        args (in, out, stride, bottleneck, sub_layers)

``format_zen(parse_zen(s)) == s`` for every valid string. Errors are ``ValueError`` naming the block's
position (1-based) and what was expected. Semantics of each block: :mod:`detdesign.arch.zen_units`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KINDS = (
    ("conv", re.compile(r"SuperConvK([1357])BNRELU")),
    ("k1kxk1", re.compile(r"SuperResK1K([357])K1")),
    ("kxkx", re.compile(r"SuperResK([357])K([357])")),
    ("idw", re.compile(r"SuperResIDWE([1246])K([357])")),
)
_NAME_HELP = ("SuperConvK{1,3,5,7}BNRELU, SuperResK{3,5,7}K{3,5,7}, SuperResK1K{3,5,7}K1, "
              "SuperResIDWE{1,2,4,6}K{3,5,7}")


@dataclass(frozen=True)
class ZenBlock:
    """One super-block of a ZenNAS structure.

    ``kind`` is ``conv``, ``kxkx``, ``k1kxk1`` or ``idw``. ``kernel`` is the (first) spatial kernel,
    ``kernel2`` the second one of a ``kxkx`` block, ``expansion`` the IDW expansion ratio, and
    ``bottleneck`` is ``None`` for ``conv`` blocks.
    """

    kind: str
    in_channels: int
    out_channels: int
    stride: int
    sub_layers: int
    kernel: int
    bottleneck: int | None = None
    kernel2: int | None = None
    expansion: int | None = None

    @property
    def name(self) -> str:
        if self.kind == "conv":
            return f"SuperConvK{self.kernel}BNRELU"
        if self.kind == "k1kxk1":
            return f"SuperResK1K{self.kernel}K1"
        if self.kind == "kxkx":
            return f"SuperResK{self.kernel}K{self.kernel2}"
        return f"SuperResIDWE{self.expansion}K{self.kernel}"

    def __str__(self) -> str:
        if self.kind == "conv":
            args = (self.in_channels, self.out_channels, self.stride, self.sub_layers)
        else:
            args = (self.in_channels, self.out_channels, self.stride, self.bottleneck, self.sub_layers)
        return f"{self.name}({','.join(str(a) for a in args)})"


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*", re.ASCII)
_SPACE = " \t\r\n"


def _tokenize(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into ``(name, argument text)`` pairs, checking the parentheses."""
    tokens, i = [], 0
    while True:
        while i < len(text) and text[i] in _SPACE:  # whitespace may separate blocks, never split a name
            i += 1
        if i >= len(text):
            break
        pos = len(tokens) + 1
        m = _NAME.match(text, i)
        if not m:
            raise ValueError(f"block {pos}: expected a block name at character {i}, found {text[i:i + 12]!r}")
        name, j = m.group(), m.end()
        while j < len(text) and text[j] in _SPACE:
            j += 1
        if j >= len(text) or text[j] != "(":
            raise ValueError(f"block {pos} ({name}): expected '(' after the block name")
        close = text.find(")", j)
        nested = text.find("(", j + 1)
        if close < 0:
            raise ValueError(f"block {pos} ({name}): unbalanced parentheses, no ')' closes it")
        if 0 <= nested < close:
            raise ValueError(f"block {pos} ({name}): unbalanced parentheses, '(' inside the argument list")
        tokens.append((name, text[j + 1:close]))
        i = close + 1
    return tokens


def _ints(args: str, pos: int, name: str, expected: int) -> list[int]:
    parts = [a.strip() for a in args.split(",")]
    if len(parts) != expected:
        what = "in,out,stride,sub_layers" if expected == 4 else "in,out,stride,bottleneck,sub_layers"
        raise ValueError(f"block {pos} ({name}): expected {expected} arguments ({what}), got {len(parts)}")
    out = []
    for p in parts:
        if not re.fullmatch(r"-?[0-9]+", p):  # ASCII digits only (int() would accept other scripts' digits)
            raise ValueError(f"block {pos} ({name}): argument {p!r} is not an integer")
        out.append(int(p))
    if any(v <= 0 for v in out):
        raise ValueError(f"block {pos} ({name}): sizes must be positive integers, got {tuple(out)}")
    return out


def _block(name: str, args: str, pos: int) -> ZenBlock:
    for kind, pattern in _KINDS:
        m = pattern.fullmatch(name)
        if not m:
            continue
        if kind == "conv":
            cin, cout, stride, layers = _ints(args, pos, name, 4)
            return ZenBlock(kind, cin, cout, stride, layers, int(m.group(1)))
        cin, cout, stride, btn, layers = _ints(args, pos, name, 5)
        if kind == "kxkx":
            return ZenBlock(kind, cin, cout, stride, layers, int(m.group(1)), btn, kernel2=int(m.group(2)))
        if kind == "idw":
            return ZenBlock(kind, cin, cout, stride, layers, int(m.group(2)), btn, expansion=int(m.group(1)))
        return ZenBlock(kind, cin, cout, stride, layers, int(m.group(1)), btn)
    raise ValueError(f"block {pos}: unknown block {name!r}; expected one of {_NAME_HELP}")


def validate_chain(blocks: list[ZenBlock]) -> None:
    """Check that each block's ``in`` equals the previous block's ``out``."""
    if not blocks:
        raise ValueError("a structure needs at least one block")
    for pos in range(1, len(blocks)):
        prev, cur = blocks[pos - 1], blocks[pos]
        if cur.in_channels != prev.out_channels:
            raise ValueError(f"block {pos + 1} ({cur.name}): in channels {cur.in_channels} differ from the "
                             f"previous block's out channels {prev.out_channels}; expected {prev.out_channels}")


def parse_zen(text: str) -> list[ZenBlock]:
    """Parse a ZenNAS structure string into a list of :class:`ZenBlock`."""
    if not isinstance(text, str):
        raise TypeError(f"a structure string must be str, got {type(text).__name__}")
    s = text.strip(_SPACE)
    if not s:
        raise ValueError("empty structure string; expected blocks like 'SuperConvK3BNRELU(3,8,1,1)...'")
    blocks = [_block(name, args, pos) for pos, (name, args) in enumerate(_tokenize(s), start=1)]
    validate_chain(blocks)
    return blocks


def format_zen(blocks: list[ZenBlock]) -> str:
    """Print blocks back in the official format (the inverse of :func:`parse_zen`)."""
    blocks = list(blocks)
    if any(not isinstance(b, ZenBlock) for b in blocks):
        raise TypeError("format_zen takes a list of ZenBlock (see parse_zen)")
    validate_chain(blocks)
    return "".join(str(b) for b in blocks)


def smart_round(x: float, base: int | None = None) -> int:
    """ZenNAS channel rounding: to a multiple of ``base`` (default 8, 16 above 128, 32 above 256), >= base."""
    if base is None:
        base = 32 if x > 256 else 16 if x > 128 else 8
    return int(max(base, round(x / float(base)) * base))
