"""Architectures stored as strings and built as networks.

- ZenNAS structure strings: :func:`parse_zen`, :func:`format_zen`, :class:`ZenNet`
- NAS-Bench-201 cells: :func:`parse_nb201`, :func:`format_nb201`
"""

from detdesign.arch.nb201_cell import NB201Cell, format_nb201, from_naslib_key, parse_nb201
from detdesign.arch.zen_format import ZenBlock, format_zen, parse_zen, smart_round
from detdesign.arch.zen_net import ZenNet

__all__ = ["NB201Cell", "ZenBlock", "ZenNet", "format_nb201", "format_zen", "from_naslib_key",
           "parse_nb201", "parse_zen", "smart_round"]
