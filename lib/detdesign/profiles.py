"""Run profiles: one frozen dataclass holds every size a notebook uses.

``smoke`` runs in seconds (tests, nbval), ``quick`` is what a person gets by default (every notebook end to end
on small sizes), ``full`` produces the published figures. Notebooks call :func:`profile` once in their
parameters cell and read every size from the result, so a profile is changed in exactly one place. How long a
profile takes is measured, not promised here: ``data/timings.csv`` (:mod:`detdesign.timings`) holds the times the
README and the tour show.
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

    uniform_cells: int  # uniform random sample of the 15,625 cells: the headline (the anchors' protocol)
    n_cells: int  # stratified sample (accuracy deciles), the secondary view; prefix-stable like the uniform one
    naslib_cells: int  # NASLib-subset cells added for the cross-check with NASLib's own proxy values
    batch_size: int  # one real CIFAR-10 batch, as in the literature
    data_seed: int
    bootstrap: int  # bootstrap resamples for the confidence intervals
    cost_cells: int  # cells on which forward / forward+backward time is measured for the cost table


@dataclass(frozen=True)
class DetectorSizes:
    """Sizes of ``00b_detector``: the reference ResNet-18-like FCOS detector trained from scratch on BCCD."""

    image_size: int  # square letterbox input (multiple of 32)
    epochs: int
    batch_size: int
    lr: float
    max_iters_per_epoch: int | None  # cap per epoch (smoke only)
    n_train: int | None  # first n training images (None = all 205)
    n_eval: int | None  # first n val/test images (None = all)
    latency_runs: int
    grid_images: int


@dataclass(frozen=True)
class MSEPSizes:
    """Sizes of ``03_msep_ablation`` (MAE-DET): backbones trained as detectors, and the search ablation."""

    n_backbones: int  # K backbones at the reference FLOPs with different stage allocations
    image_size: int
    epochs: int
    batch_size: int
    lr: float
    max_iters_per_epoch: int | None
    n_train: int | None
    n_eval: int | None
    max_layers: int  # search budget: main-path convs
    population: int
    iterations: int
    proxy_resolution: int  # input of the forward-pass proxies (Zen-Score, entropy 'forward'/'paper')
    proxy_batch: int
    bootstrap: int


@dataclass(frozen=True)
class DynamicSizes:
    """Sizes of ``05_dynamicdet``. Data, stage-1 schedule and seeds are the testbed's (:class:`TestbedSizes`), so
    detector 1 can be compared with the standalone reference detector of ``00c`` trained identically."""

    router_share: float  # share of the val split that trains the router (the rest sets the thresholds)
    router_holdout: float  # share of the router's images kept apart for early stopping (held-out Spearman)
    router_epochs: int
    router_lr: float
    latency_runs: int
    random_draws: int  # random routings per hard fraction
    fraction_step: float  # hard fractions 0, step, ..., 1
    bootstrap: int  # image resamples of the paired routing intervals at 50% hard
    bccd: bool  # also run the BCCD footnote


@dataclass(frozen=True)
class TestbedSizes:
    """Sizes of ``00c_testbed``: CIFAR-10 Scenes, the reference detector's convergence on it and on BCCD."""

    __test__ = False  # not a pytest class

    image_size: int
    n_train: int
    n_val: int
    n_test: int
    epochs: int
    batch_size: int
    lr: float
    ema: float
    max_iters_per_epoch: int | None
    seeds: tuple[int, ...]  # training seeds of the reference detector on the scenes
    bccd_epochs: int
    bootstrap: int  # image resamples of the test-AP interval
    speed_steps: int  # timed training steps per precision setting
    grid_images: int


@dataclass(frozen=True)
class TestbedV2Sizes:
    """Sizes of testbed v2 in ``00c_testbed`` (:mod:`detdesign.studies.testbed_v2`): the pilot (two necks of 04 per
    candidate variant, one schedule equal in *images*, paired seeds), then on the chosen variant the reference
    detector at S (``ref_*``; with ``ref_doubling`` the first seed at 2S) and the fp32 / bf16 parity (the pilot's
    first neck retrained in fp32, ``parity_seeds``)."""
    __test__ = False  # not a pytest class

    variants: tuple[str, ...]  # names in detdesign.data.testbed.VARIANTS
    necks: tuple[str, ...]  # labels of detdesign.detection.ablation.NECK_VARIANTS
    seeds: tuple[int, ...]
    scenes_per_epoch: int  # fresh training scenes drawn every epoch
    epochs: int
    batch_size: int
    lr: float
    ema: float
    n_val: int
    n_test: int
    bootstrap: int  # test-image resamples (paired across the necks of a seed)
    floor_draws: int  # draws of the no-class floor
    ref_scenes_per_epoch: int
    ref_epochs: int  # the schedule S of the reference detector (2S doubles the epochs)
    ref_seeds: tuple[int, ...]
    ref_doubling: bool  # also train the first seed at 2S (the doubling test of convergence)
    parity_seeds: tuple[int, ...]


@dataclass(frozen=True)
class GridSizes:
    """Sizes of the compound-scaling grid of ``04_compound_scaling`` (:mod:`detdesign.studies.scaling_grid`):
    CIFAR-10 at the 16-px base, every point FLOPs-matched, trained with paired seeds."""

    train_per_class: int
    val_per_class: int  # validation images per class, from the training split (convergence curves)
    test_per_class: int | None  # None: the full 10,000-image test set
    epochs: int
    batch_size: int
    lr: float
    warmup_iters: int
    steps: tuple[float, ...]  # target MACs 2**k x the base, for k in steps
    abg_points: int  # (alpha, beta, gamma) candidates at phi = 1 besides the paper's
    seeds: tuple[int, ...]  # training seeds, the same for every point (paired)
    bootstrap: int  # test-image resamples of the intervals


@dataclass(frozen=True)
class EffDetSizes:
    """Sizes of the detection half of ``04_compound_scaling`` (:mod:`detdesign.studies.effdet`): the neck
    ablation and the small EfficientDet, trained on CIFAR-10 Scenes with the testbed's recipe (00c)."""

    necks: tuple[str, ...]  # labels of detdesign.detection.ablation.NECK_VARIANTS to train
    seeds: tuple[int, ...]
    effdet_model: str  # the EfficientDet trained end to end ("d0")
    effdet_seeds: tuple[int, ...]
    latency_runs: int


@dataclass(frozen=True)
class MaeDetSizes:
    """Sizes of ``03_msep_ablation`` redone (:mod:`detdesign.studies.maedet`): the official K1KxK1 space at a
    CPU-sized ResNet-50 budget, detectors trained on the testbed's data with its recipe (``TestbedSizes``)."""

    divisor: int  # ResNet-50's widths / divisor: the budget network (official: 1)
    layers: int  # TinyNAS conv count of every network of the equal-depth sample (ResNet-50: 49)
    pool: int  # equal-depth, equal-MACs candidates collected by a random walk of the official mutator
    walk_steps: int  # the walk's length cap
    n_networks: int  # trained, spread evenly over the pool's MSEP range
    seeds: tuple[int, ...]  # training seeds on CIFAR-10 Scenes
    bccd_seeds: tuple[int, ...]  # training seeds on BCCD (the search ablation's second dataset)
    population: int  # EA population (official 256)
    iterations: int  # EA iterations (official 100,000 networks)
    proxy_resolution: int  # input of Zen-Score
    proxy_batch: int
    long_factor: int  # schedule sensitivity: the long schedule is long_factor x the old one
    bootstrap: int  # resamples of the rank-correlation intervals (over networks)


ZEN_OBJECTIVES = ("Zen-NAS", "TE-NAS", "NASWOT", "synflow", "FLOPs", "grad-norm", "random")  # Zen-NAS's table


@dataclass(frozen=True)
class ZenSearchSizes:
    """Sizes of ``06_zen_nas_search``: one Zen-NAS search per objective, the winners trained on CIFAR-10."""

    objectives: tuple[str, ...]  # labels of detdesign.studies.zen_search.OBJECTIVES
    population: int  # official 512
    iterations: int  # official 480,000
    proxy_batch: int  # official 64
    params: float  # parameter budget with the classifier (official 1e6)
    macs: float  # MACs cap at 32 px (not in the paper: keeps CPU training affordable)
    max_layers: int  # sum of sub_layers (official 18)
    train_per_class: int
    val_per_class: int  # validation images per class, from the training split (convergence curves)
    test_per_class: int | None  # None: the full 10,000-image test set
    epochs: int
    batch_size: int
    lr: float
    warmup_iters: int
    seeds: tuple[int, ...]  # training seeds of every winner
    bootstrap: int  # test-image resamples of the intervals


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
                           latency_runs=3),
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
                           effdet_model="d0", effdet_seeds=(0,), latency_runs=5),
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
        testbed=TestbedSizes(image_size=256, n_train=1000, n_val=300, n_test=1000, epochs=16, batch_size=8,
                             lr=2e-3, ema=0.998, max_iters_per_epoch=None, seeds=(0, 1), bccd_epochs=24,
                             bootstrap=200, speed_steps=6, grid_images=6),
        # 16,000 training images per run (1,000 steps of 16), the same for every variant: ~2 min at 128 px, ~6 at 256
        testbed_v2=TestbedV2Sizes(
            variants=("v2-4c-256", "v2-4c-128", "v2-10c-128"), necks=("FPN matched", "BiFPN softmax"), seeds=(0, 1),
            scenes_per_epoch=2000, epochs=8, batch_size=16, lr=2e-3, ema=0.995, n_val=100, n_test=500, bootstrap=200,
            floor_draws=5, ref_scenes_per_epoch=4000, ref_epochs=12, ref_seeds=(0, 1), ref_doubling=False,
            parity_seeds=(0,)),  # published so far: seeds 0, 1 at S (~28 min each), parity seed 0; 2S next
        zen_search=ZenSearchSizes(objectives=ZEN_OBJECTIVES, population=64, iterations=1000,
                                  proxy_batch=64, params=1e6, macs=10e6, max_layers=18, train_per_class=1000,
                                  val_per_class=100, test_per_class=None, epochs=15, batch_size=128, lr=0.1,
                                  warmup_iters=100, seeds=(0, 1), bootstrap=1000),
        # two paired seeds (plus the bootstrap over the 10,000 test images): a third seed added ~0.5 h here
        grid=GridSizes(train_per_class=300, val_per_class=50, test_per_class=None, epochs=15, batch_size=64,
                       lr=0.1, warmup_iters=50, steps=(1.0, 2.0), abg_points=2, seeds=(0, 1), bootstrap=1000),
        # "BiFPN sum" (no ledger claim rests on it) is trained in quick only: two fewer ~50-min trainings here
        effdet=EffDetSizes(necks=("BiFPN fast", "BiFPN softmax", "FPN matched"), seeds=(0, 1),
                           effdet_model="d0", effdet_seeds=(0,), latency_runs=30),
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
