"""Structure-string builders shared by notebooks, tests and benchmarks (ZenNAS format).

- :func:`plain_structure` -- a plain stack of conv3x3-BN-ReLU layers (Zen-NAS §3's overflow and BN-rescaling
  experiments);
- :func:`sweep_structure` -- the ResNet-18-like five-stage layout with a chosen depth per stage and width
  (the entropy-variant sweeps of MAE-DET).
"""

from __future__ import annotations


def plain_structure(depth: int, width: int) -> str:
    """``depth`` conv3x3-BN-ReLU layers of ``width`` channels, stride 1, as a ZenNAS string."""
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    s = f"SuperConvK3BNRELU(3,{width},1,1)"
    return s + (f"SuperConvK3BNRELU({width},{width},1,{depth - 1})" if depth > 1 else "")


def sweep_structure(depth: int, width: int) -> str:
    """The ResNet-18-like layout with ``depth`` sub-layers per stage and C2 width ``width`` (doubling)."""
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    w = [width * 2 ** i for i in range(4)]
    return (f"SuperConvK3BNRELU(3,16,2,1)SuperResK3K3(16,{w[0]},2,{w[0]},{depth})"
            f"SuperResK3K3({w[0]},{w[1]},2,{w[1]},{depth})SuperResK3K3({w[1]},{w[2]},2,{w[2]},{depth})"
            f"SuperResK3K3({w[2]},{w[3]},2,{w[3]},{depth})")
