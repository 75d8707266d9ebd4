"""Run profiles: one frozen dataclass holds every size a notebook uses (the size classes: :mod:`detdesign.sizes`).

``smoke`` runs in seconds (tests, nbval), ``quick`` is what a person gets by default (every notebook end to end
on small sizes), ``full`` produces the published figures. Notebooks call :func:`profile` once in their
parameters cell and read every size from the result, so a profile is changed in exactly one place. How long a
profile takes is measured, not promised here: ``data/timings.csv`` (:mod:`detdesign.timings`) holds the times the
README and the tour show.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from detdesign.sizes import (  # the profile's size classes, re-exported here
    ZEN_OBJECTIVES,
    BNRescalingSizes,
    DetectorSizes,
    DynamicSizes,
    DynamicV2Sizes,
    EffDetSizes,
    GridSizes,
    MaeDetSizes,
    MSEPSizes,
    ProxySizes,
    TestbedSizes,
    TestbedV2Sizes,
    TourSizes,
    ZenSearchSizes,
)

ENV_VAR = "DETDESIGN_PROFILE"
DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class Profile:
    """Everything that differs between ``smoke``, ``quick`` and ``full``.

    ``assert_claims`` says whether the profile is large enough for a notebook to assert the paper's claim
    (smoke and quick only report it). ``claim_hours``: the budget of one undecided claim, in worker-hours of
    this project's CPU (:func:`detdesign.claims.descriptive_if_unaffordable`): a claim whose power analysis
    needs more seeds or networks than that costs is recorded as ``descriptive`` with the size it needs.
    """

    name: str
    assert_claims: bool
    claim_hours: float  # worker-hours one claim may still cost to decide; beyond it the claim is `descriptive`
    tour: TourSizes
    bn_rescaling: BNRescalingSizes
    proxies: ProxySizes
    detector: DetectorSizes
    msep: MSEPSizes
    dynamic: DynamicSizes
    dynamic_v2: DynamicV2Sizes
    testbed: TestbedSizes
    testbed_v2: TestbedV2Sizes
    zen_search: ZenSearchSizes
    grid: GridSizes
    effdet: EffDetSizes
    maedet: MaeDetSizes


_PROFILES = {
    "smoke": Profile(
        name="smoke",
        assert_claims=False,
        claim_hours=0.0,
        tour=TourSizes(cifar_per_class=2, mean_per_class=20, bccd_images=2, latency_runs=3),
        bn_rescaling=BNRescalingSizes(
            overflow_depths=(2, 8, 48), overflow_widths=(16,), overflow_resolution=8, overflow_batch=2,
            grid_depths=(2, 4), grid_widths=(8, 16), repeats=2, batch_size=4, resolution=16,
        ),
        proxies=ProxySizes(uniform_cells=10, n_cells=4, naslib_cells=3,
                           batch_size=16, data_seed=42, bootstrap=50, cost_cells=2),
        detector=DetectorSizes(image_size=128, epochs=1, batch_size=4, lr=2e-3, max_iters_per_epoch=2,
                               n_train=8, n_eval=4, latency_runs=3, grid_images=2),
        msep=MSEPSizes(n_backbones=4, image_size=128, epochs=1, batch_size=4, lr=2e-3, max_iters_per_epoch=1,
                       n_train=8, n_eval=4, max_layers=40, population=4, iterations=8, proxy_resolution=32,
                       proxy_batch=2, bootstrap=50),
        dynamic=DynamicSizes(router_share=0.6, router_holdout=0.25, router_epochs=5, router_lr=1e-3, latency_runs=3,
                             random_draws=2, fraction_step=0.5, bootstrap=10, bccd=True),
        dynamic_v2=DynamicV2Sizes(seeds=(0,), second_neck="BiFPN softmax", router_scenes=8, threshold_scenes=4,
                                  doubled=(0,)),
        testbed=TestbedSizes(image_size=128, n_train=16, n_val=8, n_test=8, epochs=2, batch_size=4, lr=2e-3,
                             ema=0.9, max_iters_per_epoch=2, seeds=(0,), bccd_epochs=1, bootstrap=20,
                             speed_steps=1, grid_images=2),
        testbed_v2=TestbedV2Sizes(
            variants=("v2-4c-256",), necks=("FPN matched", "BiFPN softmax"), seeds=(0,), scenes_per_epoch=8, epochs=1,
            batch_size=4, lr=2e-3, ema=0.9, n_val=4, n_test=8, bootstrap=10, floor_draws=1, ref_scenes_per_epoch=8,
            ref_epochs=1, ref_seeds=(0,), ref_doubling=True, parity_seeds=(0,)),
        zen_search=ZenSearchSizes(objectives=ZEN_OBJECTIVES, population=3, iterations=3,
                                  proxy_batch=4, params=1e6, macs=10e6, max_layers=18, train_per_class=8,
                                  val_per_class=4, test_per_class=4, epochs=1, batch_size=32, lr=0.1,
                                  warmup_iters=1, seeds=(0,), bootstrap=20),
        grid=GridSizes(train_per_class=8, val_per_class=4, test_per_class=4, epochs=1, batch_size=32, lr=0.1,
                       warmup_iters=1, steps=(1.0,), abg_points=1, seeds=(0,), bootstrap=20),
        effdet=EffDetSizes(necks=("BiFPN fast", "FPN matched"), seeds=(0,), effdet_model="d0", effdet_seeds=(0,),
                           latency_runs=3, v2_necks=("BiFPN fast", "FPN matched"), v2_doubled=("BiFPN fast",)),
        maedet=MaeDetSizes(divisor=8, layers=49, pool=4, walk_steps=300, n_networks=3, seeds=(0,), bccd_seeds=(),
                           population=3, iterations=4, proxy_resolution=32, proxy_batch=2, long_factor=2,
                           bootstrap=20),
    ),
    "quick": Profile(
        name="quick",
        assert_claims=False,
        claim_hours=0.5,
        tour=TourSizes(cifar_per_class=4, mean_per_class=500, bccd_images=4, latency_runs=20),
        bn_rescaling=BNRescalingSizes(
            overflow_depths=(2, 10, 20, 25, 30, 35, 40, 45, 50, 60), overflow_widths=(16, 32, 64),
            overflow_resolution=16, overflow_batch=4,
            grid_depths=(2, 4, 6, 8), grid_widths=(8, 16, 32, 64), repeats=4, batch_size=16, resolution=32,
        ),
        proxies=ProxySizes(uniform_cells=8, n_cells=4, naslib_cells=2,
                           batch_size=16, data_seed=42, bootstrap=200, cost_cells=1),
        detector=DetectorSizes(image_size=256, epochs=2, batch_size=8, lr=2e-3, max_iters_per_epoch=None,
                               n_train=None, n_eval=None, latency_runs=10, grid_images=6),
        msep=MSEPSizes(n_backbones=4, image_size=128, epochs=1, batch_size=8, lr=2e-3, max_iters_per_epoch=None,
                       n_train=48, n_eval=None, max_layers=40, population=8, iterations=30,
                       proxy_resolution=64, proxy_batch=4, bootstrap=500),
        dynamic=DynamicSizes(router_share=0.6, router_holdout=0.25, router_epochs=30, router_lr=1e-3,
                             latency_runs=5, random_draws=3, fraction_step=0.25, bootstrap=30, bccd=False),
        dynamic_v2=DynamicV2Sizes(seeds=(0,), second_neck="BiFPN softmax", router_scenes=48, threshold_scenes=24),
        testbed=TestbedSizes(image_size=256, n_train=96, n_val=48, n_test=96, epochs=2, batch_size=8, lr=2e-3,
                             ema=0.99, max_iters_per_epoch=8, seeds=(0,), bccd_epochs=1, bootstrap=50,
                             speed_steps=2, grid_images=6),
        testbed_v2=TestbedV2Sizes(
            variants=("v2-4c-256", "v2-4c-128"), necks=("FPN matched", "BiFPN softmax"), seeds=(0,),
            scenes_per_epoch=48, epochs=1, batch_size=8, lr=2e-3, ema=0.99, n_val=16, n_test=48, bootstrap=30,
            floor_draws=2, ref_scenes_per_epoch=48, ref_epochs=2, ref_seeds=(0,), ref_doubling=True, parity_seeds=(0,)),
        zen_search=ZenSearchSizes(objectives=ZEN_OBJECTIVES, population=8, iterations=30,
                                  proxy_batch=16, params=1e6, macs=10e6, max_layers=18, train_per_class=50,
                                  val_per_class=20, test_per_class=50, epochs=2, batch_size=64, lr=0.1,
                                  warmup_iters=10, seeds=(0,), bootstrap=200),
        grid=GridSizes(train_per_class=50, val_per_class=20, test_per_class=50, epochs=2, batch_size=64, lr=0.1,
                       warmup_iters=10, steps=(1.0,), abg_points=1, seeds=(0,), bootstrap=200),
        effdet=EffDetSizes(necks=("BiFPN fast", "BiFPN softmax", "BiFPN sum", "FPN matched"), seeds=(0,),
                           effdet_model="d0", effdet_seeds=(0,), latency_runs=5,
                           v2_necks=("BiFPN fast", "BiFPN softmax", "FPN matched"), v2_doubled=("BiFPN fast",)),
        maedet=MaeDetSizes(divisor=8, layers=49, pool=6, walk_steps=600, n_networks=4, seeds=(0,), bccd_seeds=(),
                           population=8, iterations=30, proxy_resolution=64, proxy_batch=4, long_factor=2,
                           bootstrap=200),
    ),
    "full": Profile(
        name="full",
        assert_claims=True,
        claim_hours=48.0,  # two days of this 2-core CPU, about twice the whole full profile (21.6 h)
        tour=TourSizes(cifar_per_class=8, mean_per_class=5000, bccd_images=6, latency_runs=50),
        bn_rescaling=BNRescalingSizes(
            overflow_depths=tuple(range(2, 81, 2)), overflow_widths=(16, 32, 64, 128),
            overflow_resolution=16, overflow_batch=8,
            grid_depths=(2, 3, 4, 6, 8, 10, 12), grid_widths=(8, 16, 24, 32, 48, 64, 96),
            repeats=16, batch_size=32, resolution=32,
        ),
        proxies=ProxySizes(uniform_cells=1000, n_cells=1000, naslib_cells=200,
                           batch_size=64, data_seed=42, bootstrap=1000, cost_cells=20),
        detector=DetectorSizes(image_size=384, epochs=36, batch_size=8, lr=2e-3, max_iters_per_epoch=None,
                               n_train=None, n_eval=None, latency_runs=30, grid_images=6),
        msep=MSEPSizes(n_backbones=24, image_size=256, epochs=15, batch_size=8, lr=2e-3, max_iters_per_epoch=None,
                       n_train=None, n_eval=None, max_layers=40, population=32, iterations=1000,
                       proxy_resolution=64, proxy_batch=8, bootstrap=1000),
        dynamic=DynamicSizes(router_share=0.67, router_holdout=0.25, router_epochs=200, router_lr=1e-3,
                             latency_runs=30, random_draws=20, fraction_step=0.1, bootstrap=200, bccd=True),
        dynamic_v2=DynamicV2Sizes(seeds=(0, 1), second_neck="BiFPN softmax", router_scenes=3000,
                                  threshold_scenes=1000, doubled=(0,)),  # detector 2 of seed 0 also at 2S
        testbed=TestbedSizes(image_size=256, n_train=1000, n_val=300, n_test=1000, epochs=16, batch_size=8,
                             lr=2e-3, ema=0.998, max_iters_per_epoch=None, seeds=(0, 1), bccd_epochs=24,
                             bootstrap=200, speed_steps=6, grid_images=6),
        # 16,000 training images per run (1,000 steps of 16), the same for every variant: ~2 min at 128 px, ~6 at 256
        testbed_v2=TestbedV2Sizes(
            variants=("v2-4c-256", "v2-4c-128", "v2-10c-128"), necks=("FPN matched", "BiFPN softmax"), seeds=(0, 1),
            scenes_per_epoch=2000, epochs=8, batch_size=16, lr=2e-3, ema=0.995, n_val=100, n_test=500, bootstrap=200,
            floor_draws=5, ref_scenes_per_epoch=4000, ref_epochs=12, ref_seeds=(0, 1), ref_doubling=True,
            parity_seeds=(0, 1)),  # published: seeds 0, 1 at S (~28 min each), seed 0 at 2S, parity seeds 0, 1
        zen_search=ZenSearchSizes(objectives=ZEN_OBJECTIVES, population=64, iterations=1000,
                                  proxy_batch=64, params=1e6, macs=10e6, max_layers=18, train_per_class=1000,
                                  val_per_class=100, test_per_class=None, epochs=15, batch_size=128, lr=0.1,
                                  warmup_iters=100, seeds=(0, 1), bootstrap=1000),
        # two paired seeds (plus the bootstrap over the 10,000 test images): a third seed added ~0.5 h here
        grid=GridSizes(train_per_class=300, val_per_class=50, test_per_class=None, epochs=15, batch_size=64,
                       lr=0.1, warmup_iters=50, steps=(1.0, 2.0), abg_points=2, seeds=(0, 1), bootstrap=1000),
        # "BiFPN sum" (no ledger claim rests on it) is trained in quick only: two fewer ~50-min trainings here
        effdet=EffDetSizes(necks=("BiFPN fast", "BiFPN softmax", "FPN matched"), seeds=(0, 1),  # v2: ~1.6 h here
                           effdet_model="d0", effdet_seeds=(0,), latency_runs=30, v2_seeds=(0, 1),
                           v2_necks=("BiFPN fast", "BiFPN softmax", "FPN matched"),
                           v2_doubled=("BiFPN fast", "FPN matched")),
        maedet=MaeDetSizes(divisor=8, layers=49, pool=60, walk_steps=20000, n_networks=12, seeds=(0, 1),
                           bccd_seeds=(0,), population=64, iterations=2000, proxy_resolution=64, proxy_batch=8,
                           long_factor=3, bootstrap=1000),
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
