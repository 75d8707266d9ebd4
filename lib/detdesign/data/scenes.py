"""CIFAR-10 Scenes: a controlled multi-scale detection set composed from CIFAR-10 objects (no new download).

Why: BCCD's objects span a narrow range of sizes, so an FCOS head puts nearly all its positives on P3/P4 and a
*multi-scale* claim (MAE-DET's prior, BiFPN's fusion, DynamicDet's hard images) cannot be tested there. Here the
object-size distribution, the object count and the occlusion are knobs, and every image's difficulty is known.

Recipe of scene ``index`` of ``split`` (all draws from ``numpy.random.default_rng([seed, split, index])``):

1. **Background**: a ``canvas x canvas`` texture = a 4x4 random colour field (uniform 40..215 per channel)
   and a 16x16 grey field (N(0, 25)) both bilinearly upsampled, plus pixel noise N(0, 6), clipped to uint8.
2. **Objects**: ``K`` ~ uniform on ``objects = (lo, hi)``. Each object is a CIFAR-10 image drawn uniformly from
   the split's pool, resized (bilinear, antialiased) to side ``s`` ~ log-uniform on ``[min_size, max_size]``
   with aspect ratio ``w/h`` ~ log-uniform on ``aspect``, placed uniformly inside the canvas. A placement is
   redrawn (up to 30 times, else the object is skipped) when it would cover more than ``max_overlap`` of an
   earlier object's box or have more than ``max_overlap`` of itself inside one; later objects are pasted over
   earlier ones (occlusion).
3. **Ground truth**: the pasted extent as the box (``xyxy`` pixels, not shrunk for occlusion), the CIFAR label
   as the class (10 classes). Per image, the **difficulty** by construction: ``n_objects``, ``min_side``
   (smallest box side, px) and ``max_occlusion`` (largest share of a box hidden by later objects).

Splits: train scenes use only CIFAR-10 *train* images; val and test scenes use disjoint halves of CIFAR-10
*test* (a fixed seeded permutation), so no object image appears in two splits. The result has the same
interface as letterboxed BCCD (:class:`~detdesign.detection.data.Preprocessed`, scale 1), so every detector,
``fit()`` and the pycocotools evaluation work unchanged. Scenes are cached as uint8 arrays under the data cache
(``$DETDESIGN_CACHE``), keyed by the recipe's content.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from detdesign.atomic import atomic_path, read_npz
from detdesign.data.bccd import Record
from detdesign.data.cifar import CLASSES, load_cifar10
from detdesign.data.root import default_cache_dir

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
RECIPE_VERSION = 1  # bump when the recipe above changes: cached scenes are keyed on it


@dataclass(frozen=True)
class SceneConfig:
    """The knobs of the recipe (module docstring): canvas, object sizes, count, overlap, aspect, seed."""

    canvas: int = 256
    min_size: float = 12.0
    max_size: float = 160.0
    objects: tuple[int, int] = (1, 6)
    max_overlap: float = 0.3
    aspect: tuple[float, float] = (0.75, 1.33)
    seed: int = 0
    # CIFAR-10 class ids the objects are drawn from, relabelled 0..k-1 in this order (None: all ten); a field
    # added after v1 was published, so it enters the cache key only when set (detdesign.results.canonical)
    classes: tuple[int, ...] | None = field(default=None, repr=False)

    def __post_init__(self):
        if not 0 < self.min_size <= self.max_size <= self.canvas:
            raise ValueError(f"need 0 < min_size <= max_size <= canvas, got {self.min_size}, {self.max_size}, "
                             f"{self.canvas}")
        if not 1 <= self.objects[0] <= self.objects[1]:
            raise ValueError(f"objects must be (lo, hi) with 1 <= lo <= hi, got {self.objects}")
        if not 0.0 <= self.max_overlap <= 1.0 or not 0 < self.aspect[0] <= self.aspect[1]:
            raise ValueError(f"need max_overlap in [0, 1] and 0 < aspect[0] <= aspect[1], got {self.max_overlap}, "
                             f"{self.aspect}")
        if self.classes is not None and (len(self.classes) < 2 or len(set(self.classes)) != len(self.classes)
                                         or not all(isinstance(c, int) and 0 <= c < 10 for c in self.classes)):
            raise ValueError(f"classes must be None or >= 2 distinct CIFAR-10 class ids in 0..9, got {self.classes}")

    @property
    def class_names(self) -> tuple[str, ...]:
        """The names of the classes in label order (category ``k + 1`` in COCO is ``class_names[k]``)."""
        return CLASSES if self.classes is None else tuple(CLASSES[c] for c in self.classes)


def _pool(split: str, classes: tuple[int, ...] | None = None):
    """(images uint8 [N,32,32,3], labels) the split's objects come from (val/test: disjoint CIFAR test halves);
    with ``classes``, only those CIFAR classes, relabelled 0..k-1 in the order given."""
    if split not in SPLIT_IDS:
        raise ValueError(f"split must be one of {tuple(SPLIT_IDS)}, got {split!r}")
    if split == "train":
        c = load_cifar10("train")
        images, labels = c.images, c.labels
    else:
        c = load_cifar10("test")
        perm = np.random.default_rng(12345).permutation(len(c.labels))
        half = perm[: len(perm) // 2] if split == "val" else perm[len(perm) // 2:]
        images, labels = c.images[half], c.labels[half]
    if classes is None:
        return images, labels
    keep = np.isin(labels, classes)
    relabel = np.full(10, -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    return images[keep], relabel[labels[keep]]


def _upsample(a: np.ndarray, size: int) -> np.ndarray:
    t = torch.from_numpy(a.astype(np.float32))[None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0].numpy()


def _background(rng: np.random.Generator, s: int) -> np.ndarray:
    colour = _upsample(rng.uniform(40, 215, (3, 4, 4)), s)
    grey = _upsample(rng.normal(0, 25, (1, 16, 16)), s)
    return colour + grey + rng.normal(0, 6, (1, s, s))


def _place(rng, cfg: SceneConfig, boxes: list) -> tuple[int, int, int, int] | None:
    lo, hi = math.log(cfg.min_size), math.log(cfg.max_size)
    for _ in range(30):
        side = math.exp(rng.uniform(lo, hi))
        ar = math.exp(rng.uniform(math.log(cfg.aspect[0]), math.log(cfg.aspect[1])))
        w = int(min(cfg.canvas, max(4, round(side * math.sqrt(ar)))))
        h = int(min(cfg.canvas, max(4, round(side / math.sqrt(ar)))))
        x0, y0 = int(rng.integers(0, cfg.canvas - w + 1)), int(rng.integers(0, cfg.canvas - h + 1))
        ok = True
        for bx0, by0, bx1, by1 in boxes:
            iw = max(0, min(x0 + w, bx1) - max(x0, bx0))
            ih = max(0, min(y0 + h, by1) - max(y0, by0))
            inter = iw * ih
            if inter > cfg.max_overlap * (bx1 - bx0) * (by1 - by0) or inter > cfg.max_overlap * w * h:
                ok = False
                break
        if ok:
            return x0, y0, x0 + w, y0 + h
    return None


def make_scene(cfg: SceneConfig, split: str, index: int, pool,
               epoch: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Scene ``index`` of ``split``: image uint8 [3, S, S], boxes float32 [n, 4], labels int64 [n], difficulty.

    Drawn from ``default_rng([seed, split, index])``; an online training scene of ``epoch`` (testbed v2,
    :class:`OnlineScenes`) from ``default_rng([seed, split, epoch, index])``, so every epoch is new."""
    images, labels = pool
    entropy = [cfg.seed, SPLIT_IDS[split], index] if epoch is None else [cfg.seed, SPLIT_IDS[split], epoch, index]
    rng = np.random.default_rng(entropy)
    canvas = _background(rng, cfg.canvas)
    owner = np.full((cfg.canvas, cfg.canvas), -1, dtype=np.int64)
    boxes, classes = [], []
    for _ in range(int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))):
        box = _place(rng, cfg, boxes)
        pick = int(rng.integers(0, len(labels)))
        if box is None:
            continue
        x0, y0, x1, y1 = box
        obj = torch.from_numpy(images[pick]).permute(2, 0, 1)[None].float()
        obj = F.interpolate(obj, size=(y1 - y0, x1 - x0), mode="bilinear", antialias=True, align_corners=False)[0]
        canvas[:, y0:y1, x0:x1] = obj.numpy()
        owner[y0:y1, x0:x1] = len(boxes)
        boxes.append(box)
        classes.append(int(labels[pick]))
    occl = [1.0 - float((owner[y0:y1, x0:x1] == k).mean()) for k, (x0, y0, x1, y1) in enumerate(boxes)]
    sides = [min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes]
    difficulty = {"n_objects": len(boxes), "min_side": float(min(sides)) if sides else float("nan"),
                  "max_occlusion": max(occl) if occl else 0.0}
    img = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return img, np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(classes, dtype=np.int64), difficulty


def generate(cfg: SceneConfig, split: str, n: int, stream: int | None = None) -> dict:
    """The first ``n`` scenes of ``split`` as arrays (cached under the data cache, keyed by the recipe).
    ``stream``: draw the scenes from another random stream of the same split's images (``make_scene``'s ``epoch``):
    fresh compositions of images no detector trained on (testbed v2's router scenes); None: the fixed scenes."""
    from detdesign.results import content_key

    if n < 1:
        raise ValueError(f"need n >= 1 scenes, got {n}")
    if stream is not None and (not isinstance(stream, int) or stream < 0):
        raise ValueError(f"stream must be None or an int >= 0, got {stream!r}")
    tag = "" if stream is None else f"s{stream}-"
    path = default_cache_dir() / "scenes" / f"{split}-{tag}{n}-{content_key(cfg, RECIPE_VERSION)}.npz"
    cached = read_npz(path)
    if cached is not None:
        return cached
    pool = _pool(split, cfg.classes)
    out = [make_scene(cfg, split, i, pool, epoch=stream) for i in range(n)]
    arrays = {"images": np.stack([o[0] for o in out]),
              "counts": np.array([len(o[2]) for o in out]),
              "boxes": np.concatenate([o[1] for o in out]), "labels": np.concatenate([o[2] for o in out]),
              **{k: np.array([o[3][k] for o in out]) for k in ("n_objects", "min_side", "max_occlusion")}}
    with atomic_path(path, ".npz") as tmp:  # unique name: two processes may generate the same split at once
        np.savez(tmp, **arrays)
    return arrays


def load_scenes(split: str, n: int, cfg: SceneConfig | None = None, source: str | None = None,
                stream: int | None = None):
    """``n`` scenes of ``split`` as a :class:`~detdesign.detection.data.Preprocessed` (input = canvas, scale 1);
    each target also carries its difficulty (``n_objects``, ``min_side``, ``max_occlusion``). ``source`` names
    the testbed variant the split belongs to (it enters a detector job's content key; None for v1); ``stream``:
    as in :func:`generate` (it joins ``source``, so keys of jobs on other streams differ)."""
    from detdesign.detection.data import Preprocessed

    cfg = cfg or SceneConfig()
    a = generate(cfg, split, n, stream)
    if stream is not None:
        source = f"{source or ''}/stream {stream}"
    ends = np.cumsum(a["counts"])
    targets, records = [], []
    for i in range(n):
        lo, hi = (ends[i - 1] if i else 0), ends[i]
        boxes, labels = a["boxes"][lo:hi], a["labels"][lo:hi]
        records.append(Record(i + 1, f"{split}_{i:06d}", Path(f"scenes/{split}/{i:06d}"), cfg.canvas, cfg.canvas,
                              boxes, labels))
        targets.append({"boxes": torch.from_numpy(boxes.copy()), "labels": torch.from_numpy(labels.copy()),
                        "image_id": i + 1, "scale": 1.0,
                        **{k: float(a[k][i]) for k in ("n_objects", "min_side", "max_occlusion")}})
    return Preprocessed(torch.from_numpy(a["images"]), targets, records, cfg.canvas, cfg.class_names, source)


def recipe(cfg: SceneConfig) -> dict:
    """The recipe's knobs as a dict (for tables and figure captions)."""
    return {**asdict(cfg), "recipe_version": RECIPE_VERSION}
