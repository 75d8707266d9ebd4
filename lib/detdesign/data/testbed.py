"""Testbed variants: named CIFAR-10 Scenes recipes, and the online training split of testbed v2.

**v1** (published in notebooks 00c, 03, 04 and 05 before testbed v2) trains on a fixed set of scenes: 1,000
train scenes hold 3,476 object instances, each seen 16 times, and the detectors trained on it reached the AP of
perfect boxes with random classes. **v2** keeps the scene recipe of :mod:`detdesign.data.scenes` and changes
three things, each a knob of a :class:`TestbedVariant`:

- **online training scenes** (:class:`OnlineScenes`): every epoch draws fresh scenes, deterministic from
  ``(seed, split, epoch, index)``, from all 50,000 CIFAR-10 training images, so the data are no longer the
  bottleneck and a longer schedule cannot over-fit them; val and test keep fixed scenes from the two disjoint
  halves of CIFAR-10 test (as in v1);
- the **object sizes** (``min_size``, ``max_size``) and the **canvas**, and the FCOS level ranges scaled with the
  canvas (``size_ranges``) so every pyramid level keeps its share of positives;
- the **classes**: all ten, or four visually distinct ones (automobile, frog, horse, ship: the classes CIFAR-10
  classifiers confuse least), which raises the no-class floor (:func:`detdesign.detection.evaluate.
  no_class_floor`) but makes class learning reachable within a CPU budget.

Which v2 variant the later notebooks use is decided by the pilot of notebook 00c (:mod:`detdesign.studies.
testbed_pilot`), not chosen here; :data:`VARIANTS` is the registry it picks from.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import torch

from detdesign.data.scenes import RECIPE_VERSION, SPLIT_IDS, SceneConfig, _pool, load_scenes, make_scene

DISTINCT4 = (1, 6, 7, 8)  # automobile, frog, horse, ship


@dataclass(frozen=True)
class TestbedVariant:
    """One testbed: its scene recipe, whether training scenes are drawn fresh every epoch, and the FCOS level
    boundaries (``size_ranges``, input pixels; None = the head's default 32, 64 for P3-P5) that go with its
    canvas."""

    __test__ = False  # not a pytest class

    name: str
    scenes: SceneConfig
    online: bool = True
    size_ranges: tuple[float, ...] | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        return self.scenes.class_names

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def canvas(self) -> int:
        return self.scenes.canvas

    def key(self) -> str:
        """The content key of the variant's data (recipe and version); it names the splits' ``source``."""
        from detdesign.results import content_key

        return content_key(self.scenes, self.online, RECIPE_VERSION)


VARIANTS: dict[str, TestbedVariant] = {
    v.name: v for v in (
        TestbedVariant("v1", SceneConfig(canvas=256, max_size=160.0), online=False),
        TestbedVariant("v2-4c-256", SceneConfig(canvas=256, min_size=24.0, max_size=160.0, classes=DISTINCT4)),
        TestbedVariant("v2-4c-128", SceneConfig(canvas=128, min_size=16.0, max_size=96.0, classes=DISTINCT4),
                       size_ranges=(16.0, 32.0)),
        TestbedVariant("v2-10c-128", SceneConfig(canvas=128, min_size=16.0, max_size=96.0),
                       size_ranges=(16.0, 32.0)),
    )
}


V2 = "v2-4c-256"  # the variant notebook 00c's pilot chose (full profile); notebooks 03-05 build on it


def get_variant(name: str | TestbedVariant) -> TestbedVariant:
    """The registered variant ``name`` (a :class:`TestbedVariant` passes through)."""
    if isinstance(name, TestbedVariant):
        return name
    if name not in VARIANTS:
        close = difflib.get_close_matches(str(name), VARIANTS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown testbed variant {name!r}: choose one of {sorted(VARIANTS)}{hint}")
    return VARIANTS[name]


class OnlineScenes(torch.utils.data.Dataset):
    """The training split of an online variant: ``n`` scenes per epoch, scene ``i`` of epoch ``e`` drawn from
    ``default_rng([seed, train, e, i])`` over all 50,000 CIFAR-10 training images (the chosen classes).

    The training loop calls :meth:`set_epoch` before each epoch; :meth:`sample` generates on demand (about 1 ms
    per 128-px scene, 4 ms per 256-px scene on this project's CPU, against a 60-140 ms training step), so nothing
    is stored. The CIFAR pool is loaded lazily and is not pickled (a Dask worker loads its own)."""

    def __init__(self, variant: TestbedVariant, n: int):
        if not variant.online:
            raise ValueError(f"variant {variant.name!r} has fixed training scenes: load them with load_testbed")
        if n < 1:
            raise ValueError(f"need n >= 1 scenes per epoch, got {n}")
        self.variant, self.n, self.epoch, self._pool = variant, int(n), 0, None
        self.size, self.classes, self.source = variant.canvas, variant.classes, variant.key()

    def __len__(self) -> int:
        return self.n

    def __getstate__(self):
        return {**self.__dict__, "_pool": None}

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def identity(self) -> tuple:
        """What a training on this split is keyed on: the variant's data, scenes per epoch, input size."""
        return ("online", self.source, self.n), self.size

    def scene(self, i: int, epoch: int | None = None):
        """(image uint8 [3,S,S], boxes, labels, difficulty) of scene ``i`` of ``epoch`` (default: the current)."""
        if not 0 <= i < self.n:
            raise IndexError(f"scene {i} out of range for {self.n} scenes per epoch")
        if self._pool is None:
            self._pool = _pool("train", self.variant.scenes.classes)
        e = self.epoch if epoch is None else epoch
        return make_scene(self.variant.scenes, "train", i, self._pool, epoch=e)

    def sample(self, i: int) -> tuple[torch.Tensor, dict]:
        img, boxes, labels, _ = self.scene(i)
        return torch.from_numpy(img), {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)}

    def epoch_targets(self, epoch: int = 0) -> list[dict]:
        """The boxes and labels of every scene of ``epoch`` (for positives per level and object statistics)."""
        out = []
        for i in range(self.n):
            _, boxes, labels, _ = self.scene(i, epoch)
            out.append({"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)})
        return out


def load_testbed(variant: str | TestbedVariant, n_train: int, n_val: int, n_test: int) -> dict:
    """The splits of ``variant``: ``train`` (an :class:`OnlineScenes` of ``n_train`` scenes per epoch, or ``n_train``
    fixed scenes for v1), ``val`` and ``test`` (fixed scenes from the disjoint halves of CIFAR-10 test)."""
    v = get_variant(variant)
    source = v.key() if v.name != "v1" else None  # v1 splits keep the keys they were published under
    out = {split: load_scenes(split, n, v.scenes, source) for split, n in (("val", n_val), ("test", n_test))}
    out["train"] = OnlineScenes(v, n_train) if v.online else load_scenes("train", n_train, v.scenes, source)
    return {"train": out["train"], "val": out["val"], "test": out["test"]}


ROUTER_STREAM, THRESHOLD_STREAM = 10_001, 10_002  # random streams of the val images (never a training epoch)


def load_router_splits(variant: str | TestbedVariant, n_router: int, n_threshold: int) -> dict:
    """Fresh scenes for DynamicDet's router (notebook 05 on testbed v2): ``router`` (``n_router`` scenes that train
    it) and ``thresholds`` (``n_threshold`` more that set its thresholds), new compositions of the *val* half of
    CIFAR-10 test: images neither detector trained on (they train on CIFAR-10 train), disjoint from the test half
    that scores everything. Two streams apart from the fixed val scenes, so no scene repeats across the three."""
    v = get_variant(variant)
    if not v.online:
        raise ValueError(f"variant {v.name!r} has no fresh scenes: router splits need an online (v2) variant")
    return {name: load_scenes("val", n, v.scenes, v.key(), stream=s)
            for name, n, s in (("router", n_router, ROUTER_STREAM), ("thresholds", n_threshold, THRESHOLD_STREAM))}


def choose_variant(table) -> str | None:
    """The pilot's choice: among the rows of ``table`` (a DataFrame indexed by variant, with a boolean
    ``eligible`` and the effect-to-seed-noise ``ratio``) the eligible one with the largest ratio; None when no
    variant is eligible (then the testbed issue is blocked, not papered over)."""
    ok = table[table["eligible"].astype(bool) & table["ratio"].notna()]
    return None if ok.empty else str(ok["ratio"].idxmax())


def object_counts(targets: list[dict]) -> dict:
    """Objects per split and per class (for the pilot table and the recipe docstring's numbers)."""
    labels = np.concatenate([t["labels"].numpy() for t in targets]) if targets else np.zeros(0, int)
    return {"scenes": len(targets), "objects": len(labels), "per_class": np.bincount(labels).tolist()}


__all__ = [
    "DISTINCT4",
    "SPLIT_IDS",
    "VARIANTS",
    "OnlineScenes",
    "TestbedVariant",
    "get_variant",
    "load_router_splits",
    "load_testbed",
    "object_counts",
]
