"""``NB201Net``: the NAS-Bench-201 macro skeleton with a cell given by its string.

Skeleton (Dong & Yang, ICLR 2020; the benchmark's ``TinyNetwork``)::

    stem    conv3x3(3 -> C) + BN
    stage 1 N cells at C          (32x32 for CIFAR)
    reduce  ResNet basic block C -> 2C, stride 2
    stage 2 N cells at 2C         (16x16)
    reduce  ResNet basic block 2C -> 4C, stride 2
    stage 3 N cells at 4C         (8x8)
    lastact BN + ReLU, global average pooling, linear classifier

A cell sums, at each node, one op applied to every earlier node. Ops: ``none`` (zero), ``skip_connect``
(identity), ``nor_conv_1x1`` / ``nor_conv_3x3`` (ReLU-Conv-BN, no conv bias), ``avg_pool_3x3``
(3x3 average pooling, padding not counted). The reduction block is ``ReLU-Conv3x3(s2)-BN, ReLU-Conv3x3-BN``
plus a shortcut ``AvgPool2d(2) + conv1x1`` (no BN). Parameter counts equal NAS-Bench-201's own.
``forward_pre_gap`` returns the ``lastact`` output (the map that is pooled).
"""

from __future__ import annotations

from torch import Tensor, nn

from detdesign.arch.nb201_cell import EDGES, NB201Cell, parse_nb201


class Zero(nn.Module):
    """The ``none`` op: an all-zero output of the input's shape."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


def relu_conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False),
                         nn.BatchNorm2d(cout))


def make_op(name: str, channels: int) -> nn.Module:
    """One cell edge at stride 1 with ``channels`` in and out."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return relu_conv_bn(channels, channels, 1)
    if name == "nor_conv_3x3":
        return relu_conv_bn(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}")


class CellModule(nn.Module):
    """The cell as a module: node i = sum_j op_{i<-j}(node j), output = node 3."""

    def __init__(self, cell: NB201Cell, channels: int):
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, channels) for op in cell.ops)

    def forward(self, x: Tensor) -> Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            nodes.append(sum(self.edges[k](nodes[frm]) for k, (to, frm) in enumerate(EDGES) if to == node))
        return nodes[3]


class ReductionBlock(nn.Module):
    """ResNet basic block with stride 2 between stages."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv_a = relu_conv_bn(cin, cout, 3, stride=2)
        self.conv_b = relu_conv_bn(cout, cout, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)  # [B, cout, H/2, W/2]


class NB201Net(nn.Module):
    """A NAS-Bench-201 network for cell string ``arch_str`` (see the module docstring)."""

    def __init__(self, arch_str: str, C: int = 16, N: int = 5, num_classes: int = 10):
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1:
            raise ValueError(f"C, N and num_classes must be >= 1, got C={C}, N={N}, num_classes={num_classes}")
        self.cell = arch_str if isinstance(arch_str, NB201Cell) else parse_nb201(arch_str)
        self.arch_str = str(self.cell)
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                layers.append(ReductionBlock(width // 2, width))
            layers += [CellModule(self.cell, width) for _ in range(N)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU())
        self.classifier = nn.Linear(4 * C, num_classes)

    total_stride = 4  # two reduction blocks: an input below 4 px would leave an empty map

    def forward_pre_gap(self, x: Tensor) -> Tensor:
        """[B, 3, H, W] -> [B, 4C, H/4, W/4]."""
        return self.lastact(self.cells(self.stem(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.forward_pre_gap(x).mean(dim=(2, 3)))  # [B, num_classes]

    def extra_repr(self) -> str:
        return f"arch={self.arch_str!r}"
