"""Run profiles: one frozen dataclass holds every size a notebook uses.

``smoke`` runs in seconds (tests, nbval), ``quick`` is what a person gets by default (about a minute per
notebook), ``full`` produces the published figures. Notebooks call :func:`profile` once in their
parameters cell and read every size from the result, so a profile is changed in exactly one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ENV_VAR = "DETDESIGN_PROFILE"
DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class TourSizes:
    """Sizes of ``00_tour``: how many images to show and how long to time the toy network."""

    cifar_per_class: int
    mean_per_class: int  # train images per class for the channel-mean check (5000 = all of them)
    bccd_images: int
    latency_runs: int


@dataclass(frozen=True)
class BNRescalingSizes:
    """Sizes of ``01_bn_rescaling`` (Zen-NAS section 3)."""

    overflow_depths: tuple[int, ...]  # depths of the plain no-BN net for the overflow sweep
    overflow_widths: tuple[int, ...]
    overflow_resolution: int  # the overflow depth hardly depends on resolution: keep the sweep cheap
    overflow_batch: int
    grid_depths: tuple[int, ...]  # depth x width grid for the BN / no-BN / Zen comparison
    grid_widths: tuple[int, ...]
    repeats: int  # Gaussian draws averaged per score
    batch_size: int
    resolution: int


@dataclass(frozen=True)
class ProxySizes:
    """Sizes of ``02_proxy_vs_accuracy`` (zero-cost proxies on NAS-Bench-201)."""

    n_cells: int  # stratified sample of the 15,625 cells (prefix-stable: larger runs extend the cache)
    naslib_cells: int  # NASLib-subset cells added for the cross-check with NASLib's own proxy values
    batch_size: int  # one real CIFAR-10 batch, as in the literature
    data_seed: int
    bootstrap: int  # bootstrap resamples for the confidence intervals
    cost_cells: int  # cells on which forward / forward+backward time is measured for the cost table


@dataclass(frozen=True)
class Profile:
    """Everything that differs between ``smoke``, ``quick`` and ``full``.

    ``assert_claims`` says whether the profile is large enough for a notebook to assert the paper's claim
    (smoke and quick only report it).
    """

    name: str
    assert_claims: bool
    tour: TourSizes
    bn_rescaling: BNRescalingSizes
    proxies: ProxySizes


_PROFILES = {
    "smoke": Profile(
        name="smoke",
        assert_claims=False,
        tour=TourSizes(cifar_per_class=2, mean_per_class=20, bccd_images=2, latency_runs=3),
        bn_rescaling=BNRescalingSizes(
            overflow_depths=(2, 8, 48), overflow_widths=(16,), overflow_resolution=8, overflow_batch=2,
            grid_depths=(2, 4), grid_widths=(8, 16), repeats=2, batch_size=4, resolution=16,
        ),
        proxies=ProxySizes(n_cells=10, naslib_cells=3, batch_size=16, data_seed=42, bootstrap=50,
                           cost_cells=2),
    ),
    "quick": Profile(
        name="quick",
        assert_claims=False,
        tour=TourSizes(cifar_per_class=4, mean_per_class=500, bccd_images=4, latency_runs=20),
        bn_rescaling=BNRescalingSizes(
            overflow_depths=(2, 10, 20, 25, 30, 35, 40, 45, 50, 60), overflow_widths=(16, 32, 64),
            overflow_resolution=16, overflow_batch=4,
            grid_depths=(2, 4, 6, 8), grid_widths=(8, 16, 32, 64), repeats=4, batch_size=16, resolution=32,
        ),
        proxies=ProxySizes(n_cells=80, naslib_cells=10, batch_size=64, data_seed=42, bootstrap=200,
                           cost_cells=5),
    ),
    "full": Profile(
        name="full",
        assert_claims=True,
        tour=TourSizes(cifar_per_class=8, mean_per_class=5000, bccd_images=6, latency_runs=50),
        bn_rescaling=BNRescalingSizes(
            overflow_depths=tuple(range(2, 81, 2)), overflow_widths=(16, 32, 64, 128),
            overflow_resolution=16, overflow_batch=8,
            grid_depths=(2, 3, 4, 6, 8, 10, 12), grid_widths=(8, 16, 24, 32, 48, 64, 96),
            repeats=16, batch_size=32, resolution=32,
        ),
        proxies=ProxySizes(n_cells=1000, naslib_cells=200, batch_size=64, data_seed=42, bootstrap=1000,
                           cost_cells=20),
    ),
}


def profile_names() -> tuple[str, ...]:
    """The valid profile names, smallest first."""
    return tuple(_PROFILES)


def profile(name: str | None = None) -> Profile:
    """Return the :class:`Profile` called ``name``.

    ``None`` reads the environment variable ``DETDESIGN_PROFILE`` and falls back to ``"quick"``.
    An unknown name raises ``ValueError`` listing the valid ones.
    """
    if name is None:
        name = os.environ.get(ENV_VAR, DEFAULT_PROFILE)
    if not isinstance(name, str):
        raise TypeError(f"profile name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    if key not in _PROFILES:
        valid = ", ".join(repr(n) for n in _PROFILES)
        raise ValueError(f"unknown profile {name!r}; valid profiles are {valid} (set {ENV_VAR} or pass one)")
    return _PROFILES[key]
