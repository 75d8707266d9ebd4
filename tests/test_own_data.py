"""One's own data and backbone: a COCO-format split, an ``nn.Module`` backbone (torchvision), and both trained and
evaluated end to end through the library (the README's "Your own data and backbone" example)."""

import itertools
import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from detdesign.data import CocoSource, read_coco
from detdesign.detection import (
    DetectorConfig,
    NeckConfig,
    TrainConfig,
    build_detector,
    evaluate,
    load_coco_splits,
    register_module_backbone,
    torchvision_features,
    train,
)
from detdesign.detection.experiment import DetectorJob
from detdesign.detection.module_backbone import ModuleBackbone

_names = itertools.count()


def unique(prefix: str) -> str:
    """Registry names are process-wide: every test registers its own."""
    return f"{prefix}_{next(_names)}"


def write_coco(folder, n_images: int = 6, seed: int = 0):
    """A tiny COCO split: 96x64 images with one or two filled rectangles (red = category 7 'box', blue = category
    3 'disc'), plus one crowd box, one box reaching outside its image and one zero-area box."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(n_images):
        img = np.full((64, 96, 3), 114, np.uint8)
        for k in range(1 + i % 2):
            x, y, w, h = int(rng.integers(0, 60)), int(rng.integers(0, 30)), 24, 24
            cat = (7, 3)[k]
            img[y:y + h, x:x + w] = (220, 30, 30) if cat == 7 else (30, 30, 220)
            annotations.append({"id": len(annotations) + 1, "image_id": 100 + i, "category_id": cat,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
        Image.fromarray(img).save(folder / f"im{i}.png")
        images.append({"id": 100 + i, "file_name": f"im{i}.png", "width": 96, "height": 64})
    annotations += [{"id": 90, "image_id": 100, "category_id": 7, "bbox": [0, 0, 10, 10], "iscrowd": 1},
                    {"id": 91, "image_id": 101, "category_id": 3, "bbox": [80, 50, 40, 40], "iscrowd": 0},
                    {"id": 92, "image_id": 102, "category_id": 3, "bbox": [5, 5, 0, 8], "iscrowd": 0}]
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": 7, "name": "box"}, {"id": 3, "name": "disc"}]}
    path = folder / "instances.json"
    path.write_text(json.dumps(doc))
    return CocoSource(path, folder)


def test_read_coco_maps_categories_clips_and_skips_crowd(tmp_path):
    ds, report, classes = read_coco(write_coco(tmp_path))
    assert classes == ("disc", "box")  # sorted by category id: 3, then 7
    assert (report.images, report.skipped_crowd, report.clipped, report.dropped_degenerate) == (6, 1, 1, 1)
    assert report.boxes == 9 + 1  # nine drawn rectangles + the clipped one
    rec = ds.records[1]
    assert rec.boxes[-1].tolist() == [80, 50, 96, 64] and rec.labels[-1] == 0
    image, target = ds[0]
    assert image.shape == (3, 64, 96) and target["labels"].tolist() == [1]  # image 0: one red 'box'
    _, _, named = read_coco(write_coco(tmp_path), classes=("box", "disc"))
    assert named == ("box", "disc")


def test_read_coco_errors_say_what_is_wrong(tmp_path):
    source = write_coco(tmp_path)
    with pytest.raises(ValueError, match="not one of the classes"):
        read_coco(source, classes=("box", "cat"))
    with pytest.raises(ValueError, match="not found"):
        CocoSource(tmp_path / "missing.json", tmp_path)
    with pytest.raises(TypeError, match="CocoSource"):
        read_coco(str(source.annotations))
    doc = json.loads(source.annotations.read_text())
    doc["images"][0]["file_name"] = "nowhere.png"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="nowhere.png"):
        read_coco(CocoSource(bad, tmp_path))


def test_coco_splits_letterbox_and_share_classes(tmp_path):
    splits = load_coco_splits(64, {"train": write_coco(tmp_path), "test": write_coco(tmp_path)})
    train_split = splits["train"]
    assert train_split.images.shape == (6, 3, 64, 64) and train_split.classes == ("disc", "box")
    assert train_split.targets[0]["scale"] == pytest.approx(64 / 96)
    with pytest.raises(TypeError, match="CocoSource"):
        load_coco_splits(64, [write_coco(tmp_path)])


class TinyPyramid(nn.Module):
    """A hand-made module returning C3..C5 as a list."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 4, 1), nn.ReLU())
        self.c3 = nn.Conv2d(width, 2 * width, 3, 2, 1)
        self.c4 = nn.Conv2d(2 * width, 4 * width, 3, 2, 1)
        self.c5 = nn.Conv2d(4 * width, 8 * width, 3, 2, 1)

    def forward(self, x):
        c3 = self.c3(self.stem(x))
        c4 = self.c4(c3)
        return [c3, c4, self.c5(c4)]


def test_module_backbone_probes_levels_and_keys_on_its_architecture():
    a, b = unique("tiny8"), unique("tiny16")
    register_module_backbone(a, lambda: TinyPyramid(8))
    register_module_backbone(b, lambda: TinyPyramid(16))
    bb = ModuleBackbone(a)
    feats = bb(torch.zeros(2, 3, 64, 64))
    assert bb.channels == [None, None, 16, 32, 64] and feats[0] is None and feats[4].shape == (2, 64, 2, 2)
    job = lambda name: DetectorJob(DetectorConfig(backbone=name, num_classes=2, image_size=64),  # noqa: E731
                                   TrainConfig(epochs=1))
    sizes = {"train": [0] * 4, "test": [0] * 2}
    assert job(a).key(sizes) != job(b).key(sizes)
    with pytest.raises(ValueError, match="already registered"):
        register_module_backbone(a, lambda: TinyPyramid(8))
    with pytest.raises(TypeError, match="zero-argument callable"):
        register_module_backbone(unique("instance"), TinyPyramid())
    with pytest.raises(ValueError, match="gives no C2"):
        build_detector(DetectorConfig(backbone=a, neck=NeckConfig(levels=(2, 3, 4)), num_classes=2, image_size=64))


def test_torchvision_backbone_trains_and_evaluates_on_coco_data(tmp_path):
    name = unique("tv_resnet18")
    register_module_backbone(name, lambda: torchvision_features(
        torchvision.models.resnet18(weights=None), {"layer2": "c3", "layer3": "c4", "layer4": "c5"}))
    splits = load_coco_splits(64, {"train": write_coco(tmp_path), "test": write_coco(tmp_path)})
    cfg = DetectorConfig(backbone=name, num_classes=len(splits["train"].classes),
                         image_size=64)
    det = build_detector(cfg, seed=0)
    assert det.backbone.channels == [None, None, 128, 256, 512]
    hist = train(det, splits["train"], TrainConfig(epochs=2, batch_size=3, warmup_iters=1, scale_jitter=None)).history
    assert len(hist) == 4 and np.isfinite(hist["loss"]).all()
    metrics = evaluate(det, splits["test"])
    assert 0.0 <= metrics["AP"] <= 1.0 and {"AP_disc", "AP_box"} <= set(metrics)
