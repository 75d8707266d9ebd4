"""CIFAR-10 Scenes: deterministic, leak-free, multi-scale, and usable by every detector unchanged."""

import numpy as np
import pytest
import torch

from detdesign.data.scenes import SceneConfig, _pool, load_scenes, make_scene
from detdesign.detection import DetectorConfig, TrainConfig, build_detector, evaluate, fit

CFG = SceneConfig(canvas=128, min_size=8, max_size=80, objects=(1, 4))


@pytest.fixture(scope="module")
def scenes(root):
    return load_scenes("train", 24, CFG)


def test_scenes_are_deterministic_and_boxes_lie_inside(scenes, root):
    pool = _pool("train")
    a = make_scene(CFG, "train", 5, pool)
    b = make_scene(CFG, "train", 5, pool)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert torch.equal(scenes.images[5], torch.from_numpy(a[0]))
    for t in scenes.targets:
        boxes = t["boxes"]
        assert len(boxes) == t["n_objects"] >= 1
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 128).all() and (boxes[:, 2:] > boxes[:, :2]).all()
        assert 0.0 <= t["max_occlusion"] <= 1.0


def test_val_and_test_objects_come_from_disjoint_cifar_test_halves(root):
    val, test = _pool("val"), _pool("test")
    assert len(val[0]) + len(test[0]) == 10_000
    v = {bytes(x) for x in val[0][:500]}
    assert not any(bytes(x) in v for x in test[0][:2000])


def test_object_sizes_follow_the_knobs(root):
    big = load_scenes("val", 20, SceneConfig(canvas=128, min_size=60, max_size=100, objects=(1, 2)))
    sides = np.concatenate([np.minimum(r.boxes[:, 2] - r.boxes[:, 0], r.boxes[:, 3] - r.boxes[:, 1])
                            for r in big.records])
    assert sides.min() >= 60 * 0.75 ** 0.5 - 1


def test_bad_recipes_fail_clearly():
    with pytest.raises(ValueError, match="max_size <= canvas"):
        SceneConfig(canvas=64, max_size=100)
    with pytest.raises(ValueError, match="objects"):
        SceneConfig(objects=(0, 2))


def test_a_detector_trains_and_evaluates_on_scenes(scenes, tmp_path):
    cfg = DetectorConfig(image_size=128, num_classes=10)
    f = fit(cfg, TrainConfig(epochs=1, batch_size=4, warmup_iters=1, max_iters_per_epoch=2), scenes, tmp_path)
    m = evaluate(f.model, scenes.select(slice(0, 4)))
    assert set(m) >= {"AP", "AP50", "APs", "APm", "APl", "AP_airplane"}
    counts = build_detector(cfg).head.level_counts(128, scenes.targets)
    assert len(counts) == 3 and sum(counts) > 0
