"""The size dataclasses of the run profiles (:mod:`detdesign.profiles`): one frozen dataclass per notebook or
study, each field a size that notebook reads. The values of ``smoke``, ``quick`` and ``full`` live in
:mod:`detdesign.profiles`; this module only says what each size means."""

from __future__ import annotations

from dataclasses import dataclass


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
class DynamicV2Sizes:
    """Sizes of ``05_dynamicdet`` on testbed v2 (:func:`detdesign.studies.dynamic_v2.jobs`): detector 1 = the 00c
    v2 reference detector at S of each seed, frozen; detector 2 = the reference with ``second_neck`` (a label of
    NECK_VARIANTS; "" = the same FPN) reading it through the composite connection, trained alone at S (and, for
    the seeds in ``doubled``, at 2S: the doubling rung of every v2 row); the router on ``router_scenes`` fresh
    scenes, thresholds on ``threshold_scenes`` more; router sizes from DynamicSizes."""

    seeds: tuple[int, ...]  # reference seeds (each must have its 00c v2 checkpoint or cached stage-1 row)
    second_neck: str
    router_scenes: int
    threshold_scenes: int
    doubled: tuple[int, ...] = ()  # seeds whose detector 2 also trains at 2S (detector 1 stays the S reference)


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
    """Sizes of the detection half of ``04_compound_scaling``: the neck ablation and the small EfficientDet on
    testbed v1 (:mod:`detdesign.studies.effdet`), and the necks on testbed v2 (:mod:`detdesign.studies.necks_v2`)."""

    necks: tuple[str, ...]  # labels of detdesign.detection.ablation.NECK_VARIANTS to train
    seeds: tuple[int, ...]
    effdet_model: str  # the EfficientDet trained end to end ("d0")
    effdet_seeds: tuple[int, ...]
    latency_runs: int
    v2_necks: tuple[str, ...] = ()  # trained on testbed v2 at the 00c pilot's schedule S
    v2_seeds: tuple[int, ...] = (0,)
    v2_doubled: tuple[str, ...] = ()  # of v2_necks, also trained at 2S


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
