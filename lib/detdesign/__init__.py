"""detdesign: a Jupyter-first companion to Zen-NAS, MAE-DET, EfficientNet/EfficientDet and DynamicDet.

The package is deliberately thin: notebooks under ``notebooks/`` call it, it computes.
Sub-modules (import what you need):

- :mod:`detdesign.run`       -- ``Run``: profile, seed, device, caches, figures, ledger and executor of a notebook
- :mod:`detdesign.executor`  -- populations of jobs: serial, a local Dask cluster or a Dask scheduler
- :mod:`detdesign.profiles`  -- ``profile("smoke"|"quick"|"full")``: every size a notebook uses
- :mod:`detdesign.repro`     -- seeding, deterministic torch settings, environment fingerprint
- :mod:`detdesign.outputs`   -- where figures, claims and caches of a profile are written
- :mod:`detdesign.data`      -- data root, CIFAR-10, BCCD detection, NAS-Bench-201 tables
- :mod:`detdesign.measure`   -- parameters, FLOPs/MACs, CPU latency
- :mod:`detdesign.results`   -- resumable, atomically written result cache
- :mod:`detdesign.plotting`  -- one figure style and byte-stable ``savefig``
- :mod:`detdesign.claims`    -- the claims ledger and the README table
- :mod:`detdesign.arch`      -- ZenNAS structure strings and networks, NAS-Bench-201 cells
- :mod:`detdesign.proxies`   -- zero-shot proxies behind one registry
"""

from detdesign.profiles import Profile, profile
from detdesign.run import Run

__all__ = ["Profile", "Run", "__version__", "profile"]
__version__ = "0.1.0"
