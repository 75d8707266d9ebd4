"""MAE-DET entropy (Sun et al., ICML 2022) and its multi-scale entropy prior (MSEP).

A backbone in the ZenNAS format is read as a chain of its main-path convs (no BN, no residual add); stage
``i`` ends at the last block before a strided block, as in :func:`detdesign.arch.zen_net.stage_ends`. Three
variants, selected by ``variant`` (factsheet section D):

``"analytic"`` (default; the current official ``compute_madnas.py``)
    No forward pass. A conv with ``C_in`` inputs, ``groups`` groups and a k x k kernel contributes
    ``log sqrt(C_in / groups * k^2)`` (the expected log-std gain of a N(0,1)-weighted conv); the stage score
    is the cumulative sum up to the end of the stage plus ``log C_i`` (the stage's output channels):
    ``S_i = sum_{convs up to stage i} 1/2 log(C_in k^2 / g) + log C_i``.
``"forward"`` (the 2022 release, ``compute_entropy.py``)
    The same sum measured: weights and input ~ N(0, 1), each conv output divided by its own std sigma_l, and
    ``S_i = sum_{convs up to stage i} log sigma_l + log C_i`` (its expectation is the analytic score).
``"paper"`` (MAE-DET section 3 as published; exact normalisation [UNVERIFIED])
    x_l = ReLU(h_l) / gamma_l with gamma_l the RMS of h_l (any positive constant gives the same score: conv
    and ReLU are positively homogeneous, so the re-scaling is exact and never overflows). The Gaussian upper
    bound of the differential entropy of the stage-i map is ``H_i = 1/2 log Var(h_i) + sum_{l<i} log gamma_l``
    per element; ``feature_size`` says how the map size N_i = C_i H_i W_i enters: ``"multiply"`` (default,
    the paper's text: ``N_i * H_i``), ``"log"`` (``H_i + log N_i``) or ``"none"``.

Multi-scale entropy prior: ``Z = sum_i alpha_i S_i`` over the stages, ``alpha="msep"`` = (0, 0, 1, 1, 6) for
five stages (MAE-DET's default), ``alpha="single"`` = (0, ..., 0, 1) (the last stage only), or any tuple
with one weight per stage.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from detdesign.arch.tinynas_format import TinyBlock
from detdesign.arch.zen_format import ZenBlock
from detdesign.arch.zen_net import stage_ends
from detdesign.arch.zen_units import expand
from detdesign.proxies.init import gaussian_input
from detdesign.proxies.registry import register, repeat_generator

VARIANTS = ("analytic", "forward", "paper")
FEATURE_SIZES = ("multiply", "log", "none")
MSEP_ALPHA = (0.0, 0.0, 1.0, 1.0, 6.0)


def zen_blocks(net) -> list[ZenBlock]:
    """The blocks (ZenNAS or TinyNAS) of a :class:`ZenNet`, a detection ``Backbone`` or a ``Detector``."""
    for owner in (net, getattr(net, "backbone", None)):
        for attr in ("blocks_spec", "spec"):
            blocks = getattr(owner, attr, None)
            if isinstance(blocks, list) and blocks and isinstance(blocks[0], (ZenBlock, TinyBlock)):
                return blocks  # ZenNAS blocks, or TinyNAS blocks (same interface, depth in units)
    raise TypeError(f"{type(net).__name__} is not a ZenNAS-format network; maedet_entropy needs a ZenNet, a "
                    "detection Backbone or a Detector (their blocks define the stages)")


def resolve_alpha(alpha, n_stages: int) -> tuple[float, ...]:
    """``"msep"``, ``"single"`` or a tuple of ``n_stages`` weights -> the weight tuple."""
    if isinstance(alpha, str):
        if alpha == "single":
            return (0.0,) * (n_stages - 1) + (1.0,)
        if alpha == "msep":
            if n_stages != len(MSEP_ALPHA):
                raise ValueError(f"alpha='msep' is defined for 5 stages (C1..C5), the network has {n_stages}; "
                                 "pass one weight per stage")
            return MSEP_ALPHA
        raise ValueError(f"alpha must be 'msep', 'single' or a tuple of weights, got {alpha!r}")
    weights = tuple(float(a) for a in alpha)
    if len(weights) != n_stages:
        raise ValueError(f"alpha has {len(weights)} weights but the network has {n_stages} stages")
    return weights


def _convs_per_block(blocks: list[ZenBlock]):
    """Main-path conv specs of every block, in forward order."""
    return [[c for unit in expand(b) for c in unit.convs] for b in blocks]


def analytic_stage_scores(blocks: list[ZenBlock]) -> list[float]:
    """``S_i`` of the analytic variant for every stage (no network needed)."""
    ends, total, scores = set(stage_ends(blocks)), 0.0, []
    for i, convs in enumerate(_convs_per_block(blocks)):
        total += sum(0.5 * math.log(c.cin / c.groups * c.k * c.k) for c in convs)
        if i in ends:
            scores.append(total + math.log(blocks[i].out_channels))
    return scores


def _main_convs(net) -> list[list[nn.Conv2d]]:
    module = net.backbone if hasattr(net, "backbone") else net
    return [[m for unit in block for m in unit.main if isinstance(m, nn.Conv2d)] for block in module.blocks]


def _dead(block: int, variant: str) -> None:
    raise ValueError(f"maedet_entropy(variant={variant!r}): the features of block {block + 1} are all zero (every "
                     "ReLU output died: the network is too narrow or the resolution too small for a measured "
                     "entropy); use variant='analytic', a wider network or a larger resolution")


@torch.no_grad()
def _measured_stage_scores(net, blocks, variant: str, feature_size: str, x: torch.Tensor,
                           generator: torch.Generator) -> list[float]:
    ends, total, scores = set(stage_ends(blocks)), 0.0, []
    all_convs = _main_convs(net)
    x = x.to(all_convs[0][0].weight.dtype)
    for i, convs in enumerate(all_convs):
        for conv in convs:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))  # N(0, 1), no bias
            h = conv(x)  # [B, C_out, H, W]
            gamma = h.std() if variant == "forward" else h.pow(2).mean().sqrt()
            if i in ends and conv is convs[-1]:
                var = h.var()
                if not var.item() > 0:
                    _dead(i, variant)
            if not gamma.item() > 0:
                _dead(i, variant)
            total += math.log(gamma.item())
            x = h / gamma if variant == "forward" else torch.relu(h) / gamma
        if i in ends:
            if variant == "forward":
                scores.append(total + math.log(blocks[i].out_channels))
                continue
            entropy = 0.5 * math.log(var.item()) + total - math.log(gamma.item())  # per element, Gaussian bound
            n = x[0].numel()
            scores.append({"multiply": n * entropy, "log": entropy + math.log(n), "none": entropy}[feature_size])
    return scores


@register("maedet_entropy", data_free=True, gradients=False, cost="static", networks="zennas")
def maedet_entropy(net: nn.Module, *, resolution: int, batch_size: int, generator: torch.Generator, data=None,
                   variant: str = "analytic", alpha="msep", feature_size: str = "multiply") -> float:
    """One draw of the MAE-DET entropy ``Z = sum_i alpha_i S_i`` (module docstring: variants and options)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if feature_size not in FEATURE_SIZES:
        raise ValueError(f"feature_size must be one of {FEATURE_SIZES}, got {feature_size!r}")
    blocks = zen_blocks(net)
    weights = resolve_alpha(alpha, len(stage_ends(blocks)))
    if variant == "analytic":
        scores = analytic_stage_scores(blocks)
    else:
        net.eval()
        x = gaussian_input(batch_size, resolution, generator)
        scores = _measured_stage_scores(net, blocks, variant, feature_size, x, generator)
    return sum(a * s for a, s in zip(weights, scores, strict=True))


def stage_scores(net, *, variant: str = "analytic", resolution: int = 64, batch_size: int = 8, seed: int = 0,
                 feature_size: str = "multiply") -> list[float]:
    """Every stage's ``S_i`` (one draw, on a copy of ``net``): what the MSEP weights combine."""
    blocks = zen_blocks(net)
    if variant == "analytic":
        return analytic_stage_scores(blocks)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    g = repeat_generator(seed, 0)
    x = gaussian_input(batch_size, resolution, g)
    return _measured_stage_scores(copy.deepcopy(net).eval(), blocks, variant, feature_size, x, g)
