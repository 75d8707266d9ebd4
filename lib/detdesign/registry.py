"""A small named registry (timm style): ``register`` / ``names`` / ``get`` / ``create``.

Backbones, necks and heads of the detection stack each live in one :class:`Registry`; the proxies have
their own richer registry (:mod:`detdesign.proxies.registry`) because each proxy also declares facts.
Tests and notebooks list what is registered instead of keeping lists of their own.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable


class Registry:
    """Name -> object (a class, a factory or a constant), with errors that list the valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, object] = {}

    def register(self, name: str, obj=None):
        """``registry.register("x", obj)`` or ``@registry.register("x")`` above a class or function."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")

        def add(o):
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = o
            return o
        return add if obj is None else add(obj)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def get(self, name: str):
        """The object registered as ``name``; an unknown name raises ``ValueError`` with the closest names."""
        if name not in self._items:
            close = difflib.get_close_matches(str(name), list(self._items), n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(f"unknown {self.kind} {name!r}{hint} (registered: {', '.join(self.names())})")
        return self._items[name]

    def create(self, name: str, *args, **kwargs):
        """Call the registered factory ``name`` with the arguments."""
        factory = self.get(name)
        if not isinstance(factory, Callable):
            raise TypeError(f"{self.kind} {name!r} is a constant, not a factory; use get()")
        return factory(*args, **kwargs)
