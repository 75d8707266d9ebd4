"""Zero-shot proxies behind one registry: ``compute(name, model, ...)`` and ``list_proxies()``.

Registered: ``params``, ``flops`` (size), ``grad_norm``, ``snip``, ``grasp``, ``fisher``, ``synflow``
(pruning-based, zero-cost-nas), ``jacob_cov``, ``naswot`` (activation patterns), ``te_nas`` (NTK condition
number), ``zen`` (Zen-Score), ``phi`` (Phi-score), ``maedet_entropy`` (MAE-DET entropy, MSEP), and the
NAS-Bench-Suite-Zero additions ``l2_norm``, ``epe_nas`` and ``plain`` and the forward-only ``meco``.
Each registration declares its facts (:class:`ProxySpec`: data-free, gradients, cost, networks, options);
lists of proxies are queries of the registry (``list_proxies(data_free=True)``, ``spec(name)``).
Every proxy returns a :class:`ProxyResult`, works on a
copy of the model, sets its own train/eval mode and is deterministic for a seed. Sign convention: higher =
predicted better (``te_nas`` is the negated condition number; ``grasp`` keeps the published sign).
"""

from detdesign.proxies import activation as _activation  # noqa: F401  (registration side effects)
from detdesign.proxies import basic as _basic  # noqa: F401
from detdesign.proxies import entropy as _entropy  # noqa: F401
from detdesign.proxies import epe_nas as _epe_nas  # noqa: F401
from detdesign.proxies import gradient as _gradient  # noqa: F401
from detdesign.proxies import l2_norm as _l2_norm  # noqa: F401
from detdesign.proxies import meco as _meco  # noqa: F401
from detdesign.proxies import ntk as _ntk  # noqa: F401
from detdesign.proxies import phi as _phi  # noqa: F401
from detdesign.proxies import plain as _plain  # noqa: F401
from detdesign.proxies import zen as _zen  # noqa: F401
from detdesign.proxies.registry import (
    ProxyResult,
    ProxySpec,
    compute,
    list_proxies,
    register,
    repeat_generator,
    spec,
)

DATA_FREE = tuple(list_proxies(data_free=True))  # derived from the registrations, never typed

__all__ = ["DATA_FREE", "ProxyResult", "ProxySpec", "compute", "list_proxies", "register", "repeat_generator",
           "spec"]
