"""Architectures stored as strings and built as networks.

- ZenNAS structure strings: :func:`parse_zen`, :func:`format_zen`, :class:`ZenNet`
- NAS-Bench-201 cells: :func:`parse_nb201`, :func:`format_nb201`
"""

from detdesign.arch.nb201_cell import NB201Cell, format_nb201, from_naslib_key, parse_nb201

__all__ = ["NB201Cell", "parse_nb201", "format_nb201", "from_naslib_key"]
