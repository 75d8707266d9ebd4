"""BCCD blood-cell detection (Pascal VOC layout) as a torch ``Dataset``, plus COCO-format ground truth.

Layout under ``<data root>/bccd/``: ``JPEGImages/*.jpg``, ``Annotations/*.xml``, ``ImageSets/Main/
{train,val,trainval,test}.txt``. XML is parsed with torchvision's VOC parser. Documented behaviour:

- boxes are ``xyxy`` in pixels, VOC's 1-based corners are kept as written (BCCD is not consistent about
  the convention, and COCO evaluation is insensitive to a one-pixel shift at these sizes);
- a box reaching outside the image is clipped to it and counted in ``report.clipped``;
- a box with ``xmax <= xmin`` or ``ymax <= ymin`` (after clipping) is dropped and counted in
  ``report.dropped_degenerate``; an image left without boxes is kept as a valid negative;
- an unknown class name, an empty or corrupt annotation file raises ``ValueError`` naming the file.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.datasets import VOCDetection
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from detdesign.data.download import extract_subtree, fetch, install, staging_dir, tree_digest, verify
from detdesign.data.root import data_root, download_wanted, not_found

CLASSES = ("RBC", "WBC", "Platelets")
SPLITS = ("train", "val", "trainval", "test")
BCCD_COMMIT = "d272fb14cdff6e473fafeeeba32aba5f560e9e43"  # the commit of the verified offline copy
DOWNLOAD_URL = f"https://github.com/Shenggan/BCCD_Dataset/archive/{BCCD_COMMIT}.zip"
# tree_digest of BCCD/ at BCCD_COMMIT (732 files: JPEGImages, Annotations, ImageSets), from the commit's git blobs
BCCD_TREE_SHA256 = "cca37d0649546b3b0add2ce8632557c7867f71446b863e845575ef66a2adbf8c"


@dataclass(frozen=True)
class Record:
    """One annotated image at its original resolution."""

    image_id: int
    file_name: str
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # float32 [n, 4] xyxy pixels
    labels: np.ndarray  # int64 [n], index into CLASSES


@dataclass(frozen=True)
class Report:
    """What loading a split did to the raw annotations."""

    images: int
    boxes: int
    clipped: int
    dropped_degenerate: int


def parse_annotation(xml_path: Path, image_id: int, image_dir: Path) -> tuple[Record, int, int]:
    """Parse one VOC XML file; return the record and the counts of clipped and dropped boxes."""
    try:
        text = Path(xml_path).read_text()
        if not text.strip():
            raise ValueError("file is empty")
        ann = VOCDetection.parse_voc_xml(ET.fromstring(text))["annotation"]
        width, height = int(ann["size"]["width"]), int(ann["size"]["height"])
    except (ET.ParseError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"corrupt annotation file {xml_path}: {err}; restore it from the dataset") from err
    objects = ann.get("object", [])
    objects = objects if isinstance(objects, list) else [objects]
    boxes, labels, clipped, dropped = [], [], 0, 0
    for obj in objects:
        if obj["name"] not in CLASSES:
            raise ValueError(f"{xml_path}: unknown class {obj['name']!r}; expected one of {CLASSES}")
        b = [float(obj["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")]
        if not all(np.isfinite(b)):
            raise ValueError(f"{xml_path}: object {obj['name']!r} has a non-finite box {b}; fix or restore the file")
        c = [min(max(b[0], 0), width), min(max(b[1], 0), height), min(max(b[2], 0), width),
             min(max(b[3], 0), height)]
        clipped += c != b
        if c[2] <= c[0] or c[3] <= c[1]:
            dropped += 1
            continue
        boxes.append(c)
        labels.append(CLASSES.index(obj["name"]))
    rec = Record(image_id, ann["filename"], image_dir / ann["filename"], width, height,
                 np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64))
    return rec, clipped, dropped


def letterbox(image, target: dict, size: int):
    """Resize so the longer side is ``size`` (aspect kept) and pad right/bottom to ``size`` x ``size``."""
    h, w = image.shape[-2:]
    scale = size / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    image = F.resize(image, [nh, nw], antialias=True)
    boxes = F.resize(target["boxes"], [nh, nw])
    pad = [0, 0, size - nw, size - nh]
    return F.pad(image, pad, fill=114), {**target, "boxes": F.pad(boxes, pad), "scale": scale}


class BCCD(torch.utils.data.Dataset):
    """``ds[i] -> (image uint8 [3, S, S], {"boxes": BoundingBoxes xyxy, "labels": int64, "image_id"})``.

    ``size`` letterboxes every image to ``size`` x ``size`` (``None`` keeps 640x480); ``train`` adds a
    random horizontal flip that moves the boxes with the image.
    """

    def __init__(self, records: list[Record], report: Report, size: int | None = None, train: bool = False):
        self.records, self.report, self.size = records, report, size
        self.flip = v2.RandomHorizontalFlip(0.5) if train else None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        rec = self.records[i]
        with Image.open(rec.path) as pil:
            image = tv_tensors.Image(F.pil_to_tensor(pil.convert("RGB")))
        target = {"boxes": tv_tensors.BoundingBoxes(torch.from_numpy(rec.boxes), format="XYXY",
                                                     canvas_size=(rec.height, rec.width)),
                  "labels": torch.from_numpy(rec.labels), "image_id": rec.image_id}
        if self.size is not None:
            image, target = letterbox(image, target, self.size)
        if self.flip is not None:
            image, target = self.flip(image, target)
        return image, target


def _split_ids(base: Path, split: str) -> list[str]:
    if split not in SPLITS:
        raise ValueError(f"unknown BCCD split {split!r}; valid splits are {SPLITS}")
    path = base / "ImageSets" / "Main" / f"{split}.txt"
    if not path.is_file():
        raise not_found(f"bccd/ImageSets/Main/{split}.txt", base.parent, "or call download_bccd(root)")
    return [s.strip() for s in path.read_text().splitlines() if s.strip()]


def load_bccd(split: str = "train", *, root=None, size: int | None = None, train: bool = False,
              download: bool | None = None) -> BCCD:
    """Load a BCCD split from ``<data root>/bccd`` (see the module docstring for documented behaviour); a missing
    copy is fetched with :func:`download_bccd` when ``download=True`` or ``DETDESIGN_DOWNLOAD=1``."""
    base = data_root(root) / "bccd"
    if not (base / "ImageSets" / "Main").is_dir() and download_wanted(download):
        download_bccd(root)
    ids = _split_ids(base, split)
    records, clipped, dropped = [], 0, 0
    for name in ids:
        xml = base / "Annotations" / f"{name}.xml"
        if not xml.is_file():
            raise not_found(f"bccd/Annotations/{name}.xml", base.parent)
        rec, c, d = parse_annotation(xml, int(name.rsplit("_", 1)[-1]), base / "JPEGImages")
        records.append(rec)
        clipped, dropped = clipped + c, dropped + d
    report = Report(len(records), sum(len(r.labels) for r in records), clipped, dropped)
    return BCCD(records, report, size=size, train=train)


def to_coco(records: list[Record], classes: tuple[str, ...] = CLASSES) -> dict:
    """COCO-format ground truth (``bbox`` as xywh, category ids 1..K for ``classes``) for pycocotools.

    ``info`` is part of the format: pycocotools <= 2.0.10's ``loadRes`` copies it and fails without it."""
    images, annotations = [], []
    for rec in records:
        images.append({"id": rec.image_id, "file_name": rec.file_name, "width": rec.width,
                       "height": rec.height})
        for box, label in zip(rec.boxes.tolist(), rec.labels.tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": rec.image_id,
                                "category_id": label + 1, "bbox": [box[0], box[1], w, h],
                                "area": w * h, "iscrowd": 0})
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(classes)]
    return {"info": {"description": "detdesign ground truth"}, "images": images, "annotations": annotations,
            "categories": categories}


def coco_api(records: list[Record], classes: tuple[str, ...] = CLASSES):
    """A ``pycocotools.coco.COCO`` object holding :func:`to_coco` of ``records`` (no file written)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    coco = COCO()
    coco.dataset = to_coco(records, classes)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints "creating index..."
        coco.createIndex()
    return coco


def _bccd_prefix(zf: zipfile.ZipFile) -> str:
    """The archive folder that holds the VOC tree (``BCCD_Dataset-<commit>/BCCD/``), or a clear error."""
    prefixes = sorted({n[: n.index("/BCCD/") + 6] for n in zf.namelist() if "/BCCD/" in n
                       and n.count("/", 0, n.index("/BCCD/")) == 0})
    if len(prefixes) != 1:
        raise ValueError(f"the BCCD archive has an unexpected layout: expected one '<repo>-<commit>/BCCD/' folder, "
                         f"found {prefixes or 'none'}; the pinned source {DOWNLOAD_URL} may have moved")
    return prefixes[0]


def download_bccd(root=None, *, url: str | None = None) -> Path:
    """Download BCCD (MIT, Shenggan/BCCD_Dataset at commit :data:`BCCD_COMMIT`) into ``<data root>/bccd``.

    Safe by construction (:mod:`detdesign.data.download`): the archive of a pinned commit, members that would
    escape the folder refused, the VOC tree unpacked into a staging folder, its :func:`tree_digest` checked
    against :data:`BCCD_TREE_SHA256` (a forge builds commit archives on demand, so the zip bytes are not
    pinned; the files are), then moved into place. An existing, complete copy is left alone. ``url`` overrides
    the source (a mirror of the same commit); the digest check still applies. Needs internet.
    """
    target = data_root(root) / "bccd"
    if (target / "ImageSets" / "Main" / "test.txt").is_file():
        return target
    staging = staging_dir(target)
    try:
        archive = fetch(url or DOWNLOAD_URL, staging / "bccd.zip", sha256=None)
        tree = staging / "bccd"
        with zipfile.ZipFile(archive) as zf:
            prefix = _bccd_prefix(zf)
            extract_subtree(zf, prefix, tree)
            licence = prefix[: -len("BCCD/")] + "LICENSE"
            if licence in zf.namelist():
                (tree / "LICENSE").write_bytes(zf.read(licence))
        verify(tree_digest(tree, exclude=("LICENSE",)), BCCD_TREE_SHA256, f"BCCD files from {url or DOWNLOAD_URL}")
        return install(tree, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def box_stats(records: list[Record]):
    """Per class: number of boxes and median box width/height in pixels (a pandas DataFrame)."""
    import pandas as pd

    rows = [{"class": CLASSES[int(lab)], "w": float(b[2] - b[0]), "h": float(b[3] - b[1])}
            for rec in records for b, lab in zip(rec.boxes, rec.labels)]
    df = pd.DataFrame(rows, columns=["class", "w", "h"])
    return (df.groupby("class").agg(boxes=("w", "size"), median_w=("w", "median"), median_h=("h", "median"))
            .reindex(list(CLASSES)).reset_index())
