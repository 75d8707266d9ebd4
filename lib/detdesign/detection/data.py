"""Detection batches: BCCD letterboxed once into memory, augmented on the fly with boxes kept consistent.

:class:`Preprocessed` holds a split as uint8 [N, 3, S, S] plus boxes/labels in input pixels (letterbox scale
recorded per image, so predictions map back to the original 640x480 for COCO evaluation). Training
augmentation uses torchvision transforms v2 on ``tv_tensors``: random horizontal flip and a random scale
(zoom in/out about the centre, ``RandomAffine``), then ``SanitizeBoundingBoxes`` drops boxes that left the
image or became degenerate (an image may end with none: a valid negative).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from detdesign.data.bccd import BCCD, CLASSES, Record, load_bccd


@dataclass
class Preprocessed:
    """A split letterboxed to ``size``: ``images`` uint8 [N,3,S,S], ``targets`` in input pixels.

    ``records`` hold the ground truth at the original resolution (COCO evaluation), ``classes`` the class
    names (category ``k + 1`` in COCO is ``classes[k]``), ``source`` the content key of the testbed variant a
    scenes split was generated from (None for BCCD and testbed v1; it enters a detector job's key).
    """

    images: torch.Tensor
    targets: list[dict]
    records: list[Record]
    size: int
    classes: tuple[str, ...] = CLASSES
    source: str | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def sample(self, i: int) -> tuple[torch.Tensor, dict]:
        """Image ``i`` (uint8 [3, S, S]) and its target: the interface :class:`TrainView` reads (an online split,
        :class:`detdesign.data.testbed.OnlineScenes`, draws its samples instead)."""
        return self.images[i], self.targets[i]

    def identity(self) -> tuple:
        """What a training on this split is keyed on: its image ids and input size."""
        return tuple(t["image_id"] for t in self.targets), self.size

    def select(self, indices) -> Preprocessed:
        """The images at ``indices`` (a list of ints or a slice), as a new split sharing no state."""
        idx = list(range(len(self)))[indices] if isinstance(indices, slice) else [int(i) for i in indices]
        if not idx:
            raise ValueError("select() needs at least one index: an empty split cannot be trained or evaluated")
        return Preprocessed(self.images[idx].clone(), [self.targets[i] for i in idx],
                            [self.records[i] for i in idx], self.size, self.classes, self.source)


def preprocess(ds: BCCD, size: int) -> Preprocessed:
    """Letterbox every image of ``ds`` once (``ds`` must be built with ``size=None``)."""
    if len(ds) == 0:
        raise ValueError("empty image list: the split has no images")
    from detdesign.data.bccd import letterbox

    images, targets = [], []
    for i in range(len(ds)):
        img, tgt = ds[i]
        img, tgt = letterbox(img, tgt, size)
        images.append(img.as_subclass(torch.Tensor))
        targets.append({"boxes": tgt["boxes"].as_subclass(torch.Tensor).clone(), "labels": tgt["labels"].clone(),
                        "image_id": tgt["image_id"], "scale": tgt["scale"]})
    return Preprocessed(torch.stack(images), targets, ds.records, size)


def load_splits(size: int, n_train: int | None = None, n_eval: int | None = None) -> dict[str, Preprocessed]:
    """BCCD's train / val / test, letterboxed to ``size`` (first ``n_train`` / ``n_eval`` images when set). The
    CIFAR-10 Scenes splits come from :func:`detdesign.data.scenes.load_scenes` (one call per split)."""
    out = {}
    for split, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        data = preprocess(load_bccd(split), size)
        out[split] = data if n is None else data.select(slice(0, n))
    return out


def load_coco_splits(size: int, splits: dict, classes: tuple[str, ...] | None = None) -> dict[str, Preprocessed]:
    """One's own COCO-format splits (``{"train": CocoSource(json, images), "val": ..., "test": ...}``), letterboxed
    to ``size`` like BCCD. Classes come from the first split's categories (sorted by id) unless ``classes`` names
    them; every later split is read with the same classes, so class indices agree across splits. The detectors,
    training and COCO evaluation take these splits as they take BCCD's; see :mod:`detdesign.data.coco_format`."""
    from detdesign.data.coco_format import read_coco

    if not isinstance(splits, dict) or not splits:
        raise TypeError("splits must be a non-empty dict of split name -> CocoSource, e.g. "
                        "{'train': CocoSource('train.json', 'images/'), 'test': CocoSource('test.json', 'images/')}")
    out = {}
    for name, source in splits.items():
        ds, _, classes = read_coco(source, classes)
        out[name] = dataclasses.replace(preprocess(ds, size), classes=classes)
    return out


def augmenter(flip: bool, scale_jitter: tuple[float, float] | None) -> v2.Compose:
    ops = []
    if flip:
        ops.append(v2.RandomHorizontalFlip(0.5))
    if scale_jitter is not None:
        ops.append(v2.RandomAffine(degrees=0, scale=scale_jitter, fill=114))
    ops.append(v2.SanitizeBoundingBoxes(min_size=2))
    return v2.Compose(ops)


class TrainView(torch.utils.data.Dataset):
    """Augmented view of a :class:`Preprocessed` split or an online one (anything with ``sample(i)``, ``size``
    and ``__len__``; ``transform=None``: no augmentation)."""

    def __init__(self, data: Preprocessed, transform: v2.Compose | None):
        self.data, self.transform = data, transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        img, t = self.data.sample(i)
        if self.transform is None:
            return img, {"boxes": t["boxes"], "labels": t["labels"], "index": i}
        s = self.data.size
        sample = {"image": tv_tensors.Image(img), "labels": t["labels"],
                  "boxes": tv_tensors.BoundingBoxes(t["boxes"], format="XYXY", canvas_size=(s, s))}
        out = self.transform(sample)
        return (out["image"].as_subclass(torch.Tensor),
                {"boxes": out["boxes"].as_subclass(torch.Tensor), "labels": out["labels"], "index": i})


def collate(batch):
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)
