"""Testbed v2: online scenes, class subsets, the no-class floor, variant keys and the pilot's table."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from detdesign.claims import learned_classes
from detdesign.data.scenes import SceneConfig, load_scenes
from detdesign.data.testbed import DISTINCT4, VARIANTS, OnlineScenes, TestbedVariant, get_variant, load_testbed
from detdesign.detection import TrainConfig, fit
from detdesign.detection.evaluate import coco_metrics, no_class_floor, to_coco
from detdesign.detection.experiment import DetectorJob
from detdesign.detection.recipe import level_shares
from detdesign.detection.recipe import testbed_detector as variant_detector
from detdesign.results import content_key

SMALL = TestbedVariant("test-4c-64", SceneConfig(canvas=64, min_size=8, max_size=40, objects=(1, 3),
                                                  classes=DISTINCT4), size_ranges=(8.0, 16.0))


def test_online_scenes_are_fresh_every_epoch_and_reproducible(root):
    train = OnlineScenes(SMALL, 6)
    a0, b0 = train.scene(2, epoch=0), OnlineScenes(SMALL, 6).scene(2, epoch=0)
    a1 = train.scene(2, epoch=1)
    assert np.array_equal(a0[0], b0[0]) and np.array_equal(a0[1], b0[1])
    assert not np.array_equal(a0[0], a1[0])
    train.set_epoch(1)
    img, t = train.sample(2)
    assert torch.equal(img, torch.from_numpy(a1[0])) and torch.equal(t["boxes"], torch.from_numpy(a1[1]))


def test_a_class_subset_is_relabelled_and_named(root):
    test = load_scenes("test", 20, SMALL.scenes)
    labels = torch.cat([t["labels"] for t in test.targets])
    assert test.classes == ("automobile", "frog", "horse", "ship")
    assert labels.min() >= 0 and labels.max() <= 3 and len(labels.unique()) >= 3
    with pytest.raises(ValueError, match="distinct CIFAR-10 class ids"):
        SceneConfig(classes=(1, 1))
    with pytest.raises(ValueError, match="did you mean 'v2-4c-128'"):
        get_variant("v2-4c-12")


def test_v1_keeps_its_published_scene_keys(root):
    v1 = VARIANTS["v1"]
    assert content_key(v1.scenes) == content_key(SceneConfig(canvas=256, max_size=160.0))
    assert content_key(dataclasses.replace(v1.scenes, classes=DISTINCT4)) != content_key(v1.scenes)


def test_jobs_on_two_variants_of_the_same_sizes_get_different_keys(root):
    other = dataclasses.replace(SMALL, name="other", scenes=dataclasses.replace(SMALL.scenes, min_size=12))
    job = DetectorJob(variant_detector(SMALL), TrainConfig(epochs=1))
    keys = {job.key(load_testbed(v, 4, 3, 3)) for v in (SMALL, other)}
    assert len(keys) == 2


def test_the_no_class_floor_sits_between_one_class_per_box_and_perfect(root):
    test = load_scenes("test", 30, SMALL.scenes)
    floor = no_class_floor(test, draws=2)
    perfect = coco_metrics(test, [d for t in test.targets for d in to_coco(
        [{"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(len(t["labels"]))}], [t])])
    assert 0 < floor["AP_one"] < floor["AP"] < perfect["AP"] == pytest.approx(1.0)
    assert learned_classes(floor["AP"] + 0.06, floor["AP"]).met
    assert not learned_classes(floor["AP"] + 0.01, floor["AP"]).met


def test_a_detector_trains_on_online_scenes_and_resumes_from_its_key(root, tmp_path):
    splits = load_testbed(SMALL, 8, 4, 4)
    cfg, tcfg = variant_detector(SMALL), TrainConfig(epochs=2, batch_size=4, warmup_iters=1)
    f = fit(cfg, tcfg, splits["train"], tmp_path)
    assert len(f.history) == 4 and splits["train"].epoch == 1
    again = fit(cfg, tcfg, OnlineScenes(SMALL, 8), tmp_path)  # same key: the finished run is loaded
    assert again.history.equals(f.history)
    shares = level_shares(cfg, splits["train"].epoch_targets(0))
    assert set(shares) == {"P3", "P4", "P5"} and sum(shares.values()) == pytest.approx(1.0)


def test_speed_for_keeps_v1_and_adopts_the_fast_path_on_v2(monkeypatch):
    from detdesign import Run

    monkeypatch.setenv("DETDESIGN_PRECISION", "fp32")
    run = Run.from_env("smoke")
    assert run.speed_for("v1") == run.speed
    assert run.speed_for("v2-4c-128") == {"precision": "fp32", "channels_last": True}
    monkeypatch.setenv("DETDESIGN_PRECISION", "bf16")
    assert Run.from_env("smoke").speed_for("v2-4c-128")["precision"] == "bf16"


def test_the_pilot_picks_the_best_ratio_among_eligible_variants():
    from detdesign.data.testbed import choose_variant as choose

    t = pd.DataFrame({"ratio": [5.0, 3.0, 2.0], "eligible": [False, True, True]}, index=["a", "b", "c"])
    assert choose(t) == "b"
    assert choose(t.assign(eligible=False)) is None
