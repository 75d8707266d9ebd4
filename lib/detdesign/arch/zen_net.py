"""``ZenNet``: an ``nn.Module`` built from a ZenNAS structure string, as the official Masternet builds it (or from
TinyNAS's named-dict format, whose ``SuperResK1KXK1`` blocks count depth in units: see :mod:`tinynas_format`).

``ZenNet(structure, num_classes)`` = the blocks of the structure, global average pooling and a linear
classifier. ``forward_pre_gap(x)`` returns the last block's feature map (what Zen-Score reads) and
``stage_features(x)`` the output of the last block at each new stride (what a detector neck reads).
All BN layers use ``eps = 1e-3`` (official Masternet) and PyTorch's momentum 0.1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detdesign.arch.tinynas_format import TinyBlock, format_tinynas, parse_structure
from detdesign.arch.zen_format import ZenBlock, format_zen, validate_chain
from detdesign.arch.zen_units import ConvSpec, UnitSpec, block_macs, block_params, expand, official_flops

BN_EPS = 1e-3


def _conv_layers(c: ConvSpec, no_bn: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c.cin, c.cout, c.k, c.stride, (c.k - 1) // 2, groups=c.groups,
                                         bias=False)]
    if not no_bn:
        layers.append(nn.BatchNorm2d(c.cout, eps=BN_EPS))
    if c.relu:
        layers.append(nn.ReLU())
    return layers


class ProjectionConv(nn.Conv2d):
    """The 1x1, stride-s projection shortcut (``Conv2d(cin, cout, 1, s, bias=True)``, same parameters). On a
    channels_last CPU input it computes the same function as subsample-then-1x1, ``W x[:, :, ::s, ::s] + b``
    (equal up to float rounding, ~1e-6): torch 2.14.1's CPU backward of the strided form corrupted the heap
    ("double free or corruption", or a general protection fault in libtorch_cpu) for 8 input channels at 128 px in
    channels_last on an AVX-512 machine (2026-11-26; notebook 03's detectors). NCHW inputs (the proxies, the
    faithfulness tests) take the plain strided conv."""

    def forward(self, x: Tensor) -> Tensor:
        s = self.stride
        if s != (1, 1) and x.device.type == "cpu" and x.is_contiguous(memory_format=torch.channels_last):
            return F.conv2d(x[:, :, ::s[0], ::s[1]], self.weight, self.bias)  # [B, cout, ceil(H/s), ceil(W/s)]
        return super().forward(x)


class ZenUnit(nn.Module):
    """One residual (or plain) unit: ``relu(main(x) + shortcut(x))``; see :mod:`zen_units`."""

    def __init__(self, spec: UnitSpec, no_bn: bool = False):
        super().__init__()
        self.spec = spec
        self.main = nn.Sequential(*[m for c in spec.convs for m in _conv_layers(c, no_bn)])
        self.proj = None
        if spec.residual == "proj":
            self.proj = nn.Sequential(ProjectionConv(spec.cin, spec.cout, 1, spec.stride, bias=True),
                                      nn.BatchNorm2d(spec.cout, eps=BN_EPS))
        self.act = nn.ReLU() if spec.post_relu else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.main(x)  # [B, cout, H/stride, W/stride]
        if self.proj is not None:
            y = y + self.proj(x)
        elif self.spec.residual == "identity":
            y = y + x
        return self.act(y)


def stage_ends(blocks: list[ZenBlock]) -> list[int]:
    """Indices of the blocks that end a stage: the last block before each strided block, and the last one."""
    return [i - 1 for i, b in enumerate(blocks) if b.stride > 1 and i > 0] + [len(blocks) - 1]


def _as_blocks(structure) -> list[ZenBlock]:
    if isinstance(structure, str):
        blocks = parse_structure(structure)
    elif isinstance(structure, (list, tuple)):
        blocks = list(structure)
    else:
        raise TypeError(f"structure must be a ZenNAS string, a TinyNAS named-dict text, or a list of blocks; got "
                        f"{type(structure).__name__} {structure!r:.60}")
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"the structure has {len(blocks):,} blocks (> {MAX_BLOCKS:,}): check for a repeated or "
                         "generated string; the deepest networks of the papers have a few hundred layers")
    if isinstance(structure, str):
        return blocks
    if not (all(isinstance(b, ZenBlock) for b in blocks) or all(isinstance(b, TinyBlock) for b in blocks)):
        raise TypeError("structure must be a ZenNAS string, a TinyNAS named-dict text, or a list of ZenBlock (or of "
                        "TinyBlock), not a mix")
    validate_chain(blocks)
    return blocks


def _format(blocks) -> str:
    return format_tinynas(blocks) if isinstance(blocks[0], TinyBlock) else format_zen(blocks)


MAX_BLOCKS = 1_000  # a guard against runaway generated strings (100,000 blocks ran for minutes before failing)
MAX_PARAMS = 2_000_000_000  # a guard against typos such as an extra zero in a width (8 GiB of float32 weights)


class ZenNet(nn.Module):
    """A network from a ZenNAS structure string (or parsed blocks).

    Args:
        structure: e.g. ``"SuperConvK3BNRELU(3,8,1,1)SuperResK3K3(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)"``.
        num_classes: outputs of the linear classifier.
        no_reslink: drop residual shortcuts (what the official search scores).
        no_bn: drop BN from the main path (for the Phi-score without BN).
        in_channels: channels of the input image (3, RGB); the first block must take exactly these.

    A structure whose weights would exceed :data:`MAX_PARAMS` is refused before anything is allocated.
    """

    def __init__(self, structure, num_classes: int = 1000, no_reslink: bool = False, no_bn: bool = False,
                 in_channels: int = 3):
        super().__init__()
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.blocks_spec = _as_blocks(structure)
        first = self.blocks_spec[0]
        if first.in_channels != in_channels:
            raise ValueError(f"block 1 ({first.name}) takes {first.in_channels} input channels but the network's "
                             f"input has {in_channels} (RGB images: 3); write the first block as "
                             f"{first.name}({in_channels},...) or pass in_channels={first.in_channels}")
        params = sum(block_params(b, no_reslink, no_bn) for b in self.blocks_spec)
        if params > MAX_PARAMS:
            widest = max(self.blocks_spec, key=lambda b: b.out_channels)
            raise ValueError(f"the structure has {params / 1e9:.2f} G parameters (> {MAX_PARAMS / 1e9:.0f} G, "
                             f"{4 * params / 2**30:.1f} GiB in float32); widest block {widest} -- check the widths")
        self.structure = _format(self.blocks_spec)  # the format it came in (ZenNAS or TinyNAS)
        self.no_reslink, self.no_bn, self.num_classes = no_reslink, no_bn, num_classes
        self.blocks = nn.ModuleList(
            nn.Sequential(*[ZenUnit(u, no_bn) for u in expand(b, no_reslink)]) for b in self.blocks_spec)
        self.out_channels = self.blocks_spec[-1].out_channels
        self.fc = nn.Linear(self.out_channels, num_classes)

    def forward_pre_gap(self, x: Tensor) -> Tensor:
        """[B, 3, R, R] -> [B, C_last, R/s, R/s], the last block's output before pooling."""
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        f = self.forward_pre_gap(x)  # [B, C, h, w]
        return self.fc(f.mean(dim=(2, 3)))  # [B, num_classes]

    def stage_features(self, x: Tensor) -> list[Tensor]:
        """Feature maps at each stride: a stage ends at the last block before each strided block."""
        ends, feats = stage_ends(self.blocks_spec), []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in ends:
                feats.append(x)
        return feats

    @property
    def total_stride(self) -> int:
        """Product of the block strides: the input must be at least this large (else a map shrinks to 0x0)."""
        return math.prod(b.stride for b in self.blocks_spec)

    def analytic_params(self) -> int:
        """Parameters from the block formulas (equals ``detdesign.measure.count_params(self)``)."""
        body = sum(block_params(b, self.no_reslink, self.no_bn) for b in self.blocks_spec)
        return body + self.out_channels * self.num_classes + self.num_classes

    def analytic_macs(self, resolution: int) -> int:
        """Conv + classifier MACs at a square input (equals ``count_flops(...).macs``)."""
        macs, res = 0, resolution
        for b in self.blocks_spec:
            m, res = block_macs(b, res, self.no_reslink)
            macs += m
        return macs + self.out_channels * self.num_classes

    def official_flops(self, resolution: int) -> float:
        """The official ``get_FLOPs`` (with residual links; BN counted; see ``zen_units.official_flops``)."""
        flops, res = 0.0, resolution
        for b in self.blocks_spec:
            f, res = official_flops(b, res)
            flops += f
        return flops + self.out_channels * self.num_classes

    def extra_repr(self) -> str:
        return f"structure={self.structure!r}, no_reslink={self.no_reslink}, no_bn={self.no_bn}"
