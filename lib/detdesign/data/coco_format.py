"""One's own detection data in COCO format: an ``instances`` JSON of boxes and a folder of images.

The format is the one pycocotools reads (``images``, ``annotations`` with ``bbox`` = ``[x, y, w, h]`` in pixels,
``categories``). :func:`read_coco` turns it into the project's :class:`~detdesign.data.bccd.Record` list, so the
same letterboxing, augmentation, training and COCO evaluation as for BCCD apply
(:func:`detdesign.detection.load_coco_splits`). Documented behaviour:

- classes are the JSON's categories sorted by id (class index ``k`` = the ``k``-th smallest category id), or the
  names given in ``classes`` (a category of another name raises ``ValueError``; the order of ``classes`` is kept);
- ``iscrowd`` annotations are skipped (COCO evaluation ignores crowd regions; the detectors here do not learn them),
  counted in ``skipped_crowd``;
- a box reaching outside its image is clipped (``clipped``), one with no area left is dropped
  (``dropped_degenerate``); an image without boxes stays as a valid negative;
- a missing image file, a duplicate image id, an annotation of an unknown image or category raises ``ValueError``
  naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detdesign.data.bccd import BCCD, Record, Report


@dataclass(frozen=True)
class CocoSource:
    """Where one split lives: ``annotations`` (a COCO ``instances`` JSON) and ``images`` (the folder its
    ``file_name`` entries are relative to)."""

    annotations: str | os.PathLike
    images: str | os.PathLike

    def __post_init__(self):
        if not Path(self.annotations).is_file():
            raise ValueError(f"COCO annotations {self.annotations} not found: pass the path of an instances JSON")
        if not Path(self.images).is_dir():
            raise ValueError(f"COCO image folder {self.images} not found: pass the folder the JSON's file_name "
                             f"entries are relative to")


@dataclass(frozen=True)
class CocoReport:
    """What reading a split did to its annotations (:class:`~detdesign.data.bccd.Report` plus crowd boxes)."""

    images: int
    boxes: int
    clipped: int
    dropped_degenerate: int
    skipped_crowd: int


def _load_json(path: Path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read COCO annotations {path}: {err}") from err
    missing = [k for k in ("images", "annotations", "categories") if k not in doc]
    if missing:
        raise ValueError(f"{path} is not a COCO instances file: it lacks {missing}")
    return doc


def _class_map(categories: list[dict], classes: tuple[str, ...] | None, path: Path) -> tuple[dict, tuple]:
    """category id -> class index, and the class names in index order."""
    cats = sorted(categories, key=lambda c: int(c["id"]))
    if classes is None:
        classes = tuple(str(c["name"]) for c in cats)
    classes = tuple(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"class names must be unique, got {classes}")
    index = {}
    for c in cats:
        if c["name"] not in classes:
            raise ValueError(f"{path}: category {c['name']!r} is not one of the classes {classes}; pass classes "
                             f"that name every category (or leave classes=None to take the JSON's)")
        index[int(c["id"])] = classes.index(c["name"])
    return index, classes


def _clip(bbox, width: int, height: int) -> list[float]:
    x, y, w, h = (float(v) for v in bbox)
    if not np.isfinite([x, y, w, h]).all():
        raise ValueError(f"non-finite COCO bbox {bbox}")
    return [min(max(x, 0.0), width), min(max(y, 0.0), height), min(max(x + w, 0.0), width),
            min(max(y + h, 0.0), height)]


def _records(doc: dict, index: dict, image_dir: Path, path: Path) -> tuple[list[Record], CocoReport]:
    images = {}
    for im in doc["images"]:
        iid = int(im["id"])
        if iid in images:
            raise ValueError(f"{path}: image id {iid} appears twice")
        if not (image_dir / im["file_name"]).is_file():
            raise ValueError(f"{path}: image {im['file_name']!r} not found under {image_dir}")
        images[iid] = (im, [], [])
    clipped = dropped = crowd = 0
    for a in doc["annotations"]:
        if int(a["image_id"]) not in images:
            raise ValueError(f"{path}: annotation {a.get('id')} names an unknown image {a['image_id']}")
        if int(a["category_id"]) not in index:
            raise ValueError(f"{path}: annotation {a.get('id')} names an unknown category {a['category_id']}")
        if a.get("iscrowd", 0):
            crowd += 1
            continue
        im, boxes, labels = images[int(a["image_id"])]
        box = _clip(a["bbox"], int(im["width"]), int(im["height"]))
        x, y, w, h = (float(v) for v in a["bbox"])
        clipped += box != [x, y, x + w, y + h]
        if box[2] <= box[0] or box[3] <= box[1]:
            dropped += 1
            continue
        boxes.append(box)
        labels.append(index[int(a["category_id"])])
    records = [Record(iid, im["file_name"], image_dir / im["file_name"], int(im["width"]), int(im["height"]),
                      np.asarray(b, dtype=np.float32).reshape(-1, 4), np.asarray(lab, dtype=np.int64))
               for iid, (im, b, lab) in sorted(images.items())]
    report = CocoReport(len(records), sum(len(r.labels) for r in records), clipped, dropped, crowd)
    return records, report


def read_coco(source: CocoSource, classes: tuple[str, ...] | None = None) -> tuple[BCCD, CocoReport, tuple]:
    """A split as a dataset of :class:`Record` (images read lazily), the report, and the class names.

    The dataset is the one BCCD uses (``ds[i] -> (uint8 image, target)``); see the module docstring for what is
    clipped, dropped and skipped."""
    if not isinstance(source, CocoSource):
        raise TypeError(f"read_coco takes a CocoSource(annotations, images), got {type(source).__name__}")
    path = Path(source.annotations)
    doc = _load_json(path)
    index, classes = _class_map(doc["categories"], classes, path)
    records, report = _records(doc, index, Path(source.images), path)
    if not records:
        raise ValueError(f"{path} lists no images")
    ds = BCCD(records, Report(report.images, report.boxes, report.clipped, report.dropped_degenerate))
    return ds, report, classes
