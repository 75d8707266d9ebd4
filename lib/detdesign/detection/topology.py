"""Feature-pyramid graphs as data (EfficientDet's BiFPN, and FPN as its top-down half).

A graph is a tuple of :class:`Node` ``(level, inputs)``; ``inputs`` index the list ``[P_min .. P_max inputs,
node 0, node 1, ...]``. The BiFPN node list equals the official one (top-down from P_{max-1} to P_min, then
bottom-up from P_{min+1} to P_max with a same-level skip); outputs are the last node of every level.
"""

from __future__ import annotations

from dataclasses import dataclass

TOPOLOGIES = ("bifpn", "fpn")


@dataclass(frozen=True)
class Node:
    """One fusion node: output ``level`` and its ``inputs`` (indices into [P_min..P_max inputs, node 0, ...])."""

    level: int
    inputs: tuple[int, ...]


def fpn_topology(kind: str, min_level: int, max_level: int) -> tuple[Node, ...]:
    """``"bifpn"``: top-down then bottom-up with a same-level skip (the paper's Fig. 2d, official node list);
    ``"fpn"``: the top-down path only, with a one-input node on the top level so that every output passes
    through the same fusion layer. Outputs are the last node of every level (inputs where none)."""
    if kind not in TOPOLOGIES:
        raise ValueError(f"topology must be one of {TOPOLOGIES}, got {kind!r}")
    n = max_level - min_level + 1
    nodes: list[Node] = []
    top = {max_level: n - 1}
    if kind == "fpn":  # FPN's top level gets its own node (lateral projection + output conv), like every level
        nodes.append(Node(max_level, (n - 1,)))
        top[max_level] = n
    for lv in range(max_level - 1, min_level - 1, -1):
        nodes.append(Node(lv, (lv - min_level, top[lv + 1])))
        top[lv] = n + len(nodes) - 1
    if kind == "fpn":
        return tuple(nodes)
    last = {min_level: top[min_level]}
    for lv in range(min_level + 1, max_level + 1):
        same = (lv - min_level,) if lv == max_level else (lv - min_level, top[lv])
        nodes.append(Node(lv, (*same, last[lv - 1])))
        last[lv] = n + len(nodes) - 1
    return tuple(nodes)


def outputs_of(nodes: tuple[Node, ...], min_level: int, max_level: int) -> list[int]:
    n, last = max_level - min_level + 1, {}
    for i, node in enumerate(nodes):
        last[node.level] = n + i
    return [last.get(lv, lv - min_level) for lv in range(min_level, max_level + 1)]


