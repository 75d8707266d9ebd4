"""Multi-scale backbones from ZenNAS structure strings: C1..C5 at strides 2, 4, 8, 16, 32.

A stage ends at the last block before each strided block (see ``ZenNet.stage_features``); the backbone's
output list is what the necks, the MAE-DET entropy proxy and the DynamicDet router read.
"""

from __future__ import annotations

from torch import Tensor, nn

from detdesign.arch import ZenNet
from detdesign.arch.zen_net import stage_ends


class Backbone(nn.Module):
    """``forward(x) -> [C1, C2, C3, C4, C5]``; ``channels[i]`` and ``strides[i]`` describe level i+1."""

    def __init__(self, structure: str):
        super().__init__()
        net = ZenNet(structure, num_classes=1)
        self.blocks, self.spec = net.blocks, net.blocks_spec
        self.structure = net.structure
        self.stage_ends = stage_ends(self.spec)
        self.channels = [self.spec[i].out_channels for i in self.stage_ends]
        strides, s = [], 1
        for i, b in enumerate(self.spec):
            s *= b.stride
            if i in self.stage_ends:
                strides.append(s)
        self.strides = strides
        if strides[:5] != [2, 4, 8, 16, 32][: len(strides)] or len(strides) != 5:
            raise ValueError(f"a detection backbone needs five stages at strides 2..32, got strides {strides} "
                             f"for {structure!r}; use stride-2 blocks to open each stage")

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                feats.append(x)  # C_{len(feats)}: [B, channels, H/stride, W/stride]
        return feats
