"""Zero-shot proxies behind one registry: ``compute(name, model, ...)`` and ``list_proxies()``.

Registered here: ``zen`` (Zen-Score) and ``phi`` (Phi-score). Every proxy returns a
:class:`ProxyResult`, works on a copy of the model and is deterministic for a seed.
"""

from detdesign.proxies import phi as _phi  # noqa: F401  (registers "phi")
from detdesign.proxies import zen as _zen  # noqa: F401  (registers "zen")
from detdesign.proxies.registry import ProxyResult, compute, list_proxies, register, repeat_generator

__all__ = ["ProxyResult", "compute", "list_proxies", "register", "repeat_generator"]
