"""NAS-Bench-201 cell strings: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

A cell is a DAG over 4 nodes; node ``i`` (1..3) sums one operation applied to every earlier node ``j``.
The string lists, node by node (separated by ``+``), the edges ``op~j``. :func:`parse_nb201` is a real
parser into the frozen :class:`NB201Cell`; :func:`format_nb201` prints it back, and
``format_nb201(parse_nb201(s)) == s`` for every valid string.
"""

from __future__ import annotations

from dataclasses import dataclass

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from) in string order
# NASLib's zero-cost file indexes ops in this order and keys cells by (e0..e5) with the string
# |e0~0|+|e1~0|e3~1|+|e2~0|e4~1|e5~2|, i.e. string order = (e0, e1, e3, e2, e4, e5).
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_NASLIB_ORDER = (0, 1, 3, 2, 4, 5)


@dataclass(frozen=True)
class NB201Cell:
    """The six edge operations of a cell, in the string's order (see :data:`EDGES`)."""

    ops: tuple[str, ...]

    def __post_init__(self):
        if len(self.ops) != 6:
            raise ValueError(f"an NB201 cell has 6 edges, got {len(self.ops)}")
        for (to, frm), op in zip(EDGES, self.ops):
            if op not in OPS:
                raise ValueError(f"edge {frm}->{to}: unknown op {op!r}; valid ops are {OPS}")

    def edge(self, to: int, frm: int) -> str:
        return self.ops[EDGES.index((to, frm))]

    def __str__(self) -> str:
        return format_nb201(self)


def parse_nb201(text: str) -> NB201Cell:
    """Parse an NB201 cell string; ``ValueError`` names the node or edge that is malformed."""
    if not isinstance(text, str):
        raise TypeError(f"an NB201 cell string must be str, got {type(text).__name__}")
    s = text.strip()
    nodes = s.split("+")
    if len(nodes) != 3:
        raise ValueError(f"{text!r}: expected 3 nodes separated by '+', found {len(nodes)}")
    ops = []
    for i, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 3:
            raise ValueError(f"{text!r}: node {i} {node!r} must look like '|op~0|...|'")
        edges = node[1:-1].split("|")
        if len(edges) != i:
            raise ValueError(f"{text!r}: node {i} must have {i} edge(s), found {len(edges)} in {node!r}")
        for j, edge in enumerate(edges):
            op, sep, src = edge.partition("~")
            if not sep or src != str(j):
                raise ValueError(f"{text!r}: node {i} edge {j + 1} is {edge!r}; expected 'op~{j}'")
            if op not in OPS:
                raise ValueError(f"{text!r}: node {i} edge {edge!r} has unknown op {op!r}; valid ops are {OPS}")
            ops.append(op)
    return NB201Cell(tuple(ops))


def format_nb201(cell: NB201Cell) -> str:
    """Print a cell in the standard string form."""
    o = cell.ops
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def from_naslib_key(key) -> NB201Cell:
    """NASLib's op-index tuple ``(e0..e5)`` (or its string ``'(4, 3, ...)'``) as a cell."""
    if isinstance(key, str):
        try:
            key = tuple(int(t) for t in key.strip("() ").split(","))
        except ValueError as err:
            raise ValueError(f"NASLib key {key!r} must be a tuple of 6 integers") from err
    if len(key) != 6 or any(not 0 <= k < len(NASLIB_OPS) for k in key):
        raise ValueError(f"NASLib key {key!r} must hold 6 op indices in 0..{len(NASLIB_OPS) - 1}")
    return NB201Cell(tuple(NASLIB_OPS[key[i]] for i in _NASLIB_ORDER))
