import pytest
import torch

from detdesign.data import load_bccd
from detdesign.detection import (
    RESNET18_LIKE,
    RESNET50_LIKE,
    DetectorConfig,
    Preprocessed,
    TrainConfig,
    build_detector,
    coco_metrics,
    create_backbone,
    evaluate,
    list_backbones,
    list_heads,
    list_necks,
    preprocess,
    train,
)
from detdesign.detection.backbone import Backbone
from detdesign.detection.config import HeadConfig, NeckConfig
from detdesign.detection.data import TrainView, augmenter
from detdesign.detection.head import FCOSHead

SMALL = DetectorConfig(image_size=128)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_data(root):
    pre = preprocess(load_bccd("train"), 128)
    return Preprocessed(pre.images[:6], pre.targets[:6], pre.records[:6], 128)


@pytest.mark.parametrize("structure, channels", [(RESNET18_LIKE, [16, 32, 64, 128, 256]),
                                                 (RESNET50_LIKE, [16, 64, 128, 256, 512])])
def test_backbone_levels(structure, channels):
    bb = Backbone(structure)
    feats = bb(torch.randn(2, 3, 64, 64))
    assert bb.strides == [2, 4, 8, 16, 32] and bb.channels == channels
    assert [tuple(f.shape[1:]) for f in feats] == [(c, 64 // s, 64 // s) for c, s in zip(channels, bb.strides)]
    with pytest.raises(ValueError, match="five stages"):
        Backbone("SuperConvK3BNRELU(3,8,2,1)SuperResK3K3(8,16,2,8,1)")


@pytest.mark.parametrize("name", list_backbones())
def test_every_registered_backbone_builds_five_levels(name):
    bb = create_backbone(name)
    assert len(bb(torch.zeros(1, 3, 64, 64))) == 5 and bb.strides == [2, 4, 8, 16, 32]


@pytest.mark.parametrize("neck", list_necks())
@pytest.mark.parametrize("head", list_heads())
def test_every_registered_neck_and_head_train_one_step(neck, head):
    cfg = DetectorConfig(image_size=128, neck=NeckConfig(kind=neck), head=HeadConfig(kind=head))
    det = build_detector(cfg)
    target = [{"boxes": torch.tensor([[10.0, 10, 60, 70]]), "labels": torch.tensor([1])}]
    loss, _ = det.loss(torch.zeros(1, 3, 128, 128), target)
    loss.backward()
    assert torch.isfinite(loss)


def test_unknown_registry_names_suggest_the_closest():
    with pytest.raises(ValueError, match="did you mean 'bifpn'"):
        build_detector(DetectorConfig(image_size=128, neck=NeckConfig(kind="bifnp")))
    with pytest.raises(ValueError, match="registered: resnet18_like, resnet50_like"):
        create_backbone("resnet34")


def test_fpn_and_head_shapes():
    cfg = DetectorConfig(image_size=128, neck=NeckConfig(extra_levels=2))
    det = build_detector(cfg)
    outs = det(torch.zeros(2, 3, 128, 128, dtype=torch.uint8))
    assert det.neck.out_levels == (3, 4, 5, 6, 7)
    assert [tuple(o[0].shape) for o in outs] == [(2, 3, 128 // 2 ** lv, 128 // 2 ** lv) for lv in range(3, 8)]
    assert all(o[1].shape[1] == 4 and o[2].shape[1] == 1 for o in outs)


def test_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="divisible by the largest stride 32"):
        build_detector(DetectorConfig(image_size=100))
    det = build_detector(SMALL)
    with pytest.raises(ValueError, match="128x128"):
        det(torch.zeros(1, 3, 96, 96))
    bad = [{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([3])}]
    with pytest.raises(ValueError, match="class ids must lie in"):
        det.loss(torch.zeros(1, 3, 128, 128), bad)
    with pytest.raises(ValueError, match="empty image list"):
        train(det, Preprocessed(torch.zeros(0, 3, 128, 128), [], [], 128), TrainConfig(epochs=1))


def test_image_without_boxes_is_a_valid_negative():
    det = build_detector(SMALL)
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    loss, per = det.loss(torch.zeros(1, 3, 128, 128), empty)
    assert torch.isfinite(loss) and per["box"].item() == 0.0
    loss.backward()


def test_decode_and_nms_on_a_hand_made_case():
    head = FCOSHead(SMALL.head, 64, 2, (8,))
    cls = torch.full((1, 2, 4, 4), -10.0)
    cls[0, 1, 1, 1] = 10.0  # one confident location of class 1 at cell (1, 1): centre (12, 12)
    cls[0, 1, 1, 2] = 9.0  # its neighbour predicts an overlapping box: NMS must drop it
    box = torch.zeros(1, 4, 4, 4)
    box[0, :, 1, 1] = torch.tensor([1.0, 1.0, 1.0, 1.0])  # ltrb in stride units -> (4, 4, 20, 20)
    box[0, :, 1, 2] = torch.tensor([2.0, 1.0, 0.0, 1.0])  # (4, 4, 20, 20) seen from centre (20, 12)
    ctr = torch.full((1, 1, 4, 4), 10.0)
    (res,) = head.decode([(cls, box, ctr)], image_size=32)
    assert res["labels"].tolist() == [1]
    assert res["boxes"][0].tolist() == pytest.approx([4.0, 4.0, 20.0, 20.0])


def test_targets_pick_the_smallest_box():
    head = FCOSHead(SMALL.head, 64, 3, (8,))
    pts = FCOSHead.points(4, 4, 8)
    boxes = torch.tensor([[0.0, 0, 32, 32], [8.0, 8, 24, 24]])
    cls, tb = head._targets(boxes, torch.tensor([0, 2]), pts, torch.full((16,), 8.0), torch.zeros(16, dtype=torch.long))
    centre = 1 * 4 + 1  # point (12, 12) lies in both boxes
    assert cls[centre] == 2 and tb[centre].tolist() == [8.0, 8, 24, 24]


def test_loss_decreases_on_a_tiny_overfit_set(tiny_data):
    det = build_detector(SMALL, seed=0)
    hist = train(det, tiny_data, TrainConfig(epochs=12, batch_size=6, lr=3e-3, warmup_iters=3, scale_jitter=None,
                                             flip=False)).history
    first, last = hist["loss"].iloc[:2].mean(), hist["loss"].iloc[-2:].mean()
    assert last < 0.7 * first, (first, last)


def test_checkpoint_resume_is_identical(tiny_data, tmp_path, monkeypatch):
    import detdesign.detection.training as tr

    cfg = TrainConfig(epochs=2, batch_size=3, warmup_iters=1)
    a = build_detector(SMALL, seed=1)
    full = train(a, tiny_data, cfg).history
    real_save = tr._save

    def save_then_die(path, state):  # the process is killed right after the first epoch's checkpoint
        real_save(path, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(build_detector(SMALL, seed=1), tiny_data, cfg, ckpt_dir=tmp_path)
    monkeypatch.setattr(tr, "_save", real_save)
    c = build_detector(SMALL, seed=1)
    resumed = train(c, tiny_data, cfg, ckpt_dir=tmp_path).history
    assert resumed["loss"].tolist() == pytest.approx(full["loss"].tolist(), rel=1e-5)
    x = tiny_data.images[:2]
    a.eval()
    c.eval()
    for (pa, pc) in zip(a(x), c(x)):
        assert torch.allclose(pa[0], pc[0], atol=1e-5)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["epoch"] == 2


def test_augmentation_keeps_boxes_inside(tiny_data):
    torch.manual_seed(0)
    view = TrainView(tiny_data, augmenter(True, (0.7, 1.3)))
    for i in range(len(view)):
        img, t = view[i]
        assert img.shape == (3, 128, 128) and len(t["boxes"]) == len(t["labels"])
        if len(t["boxes"]):
            assert t["boxes"].min() >= 0 and t["boxes"].max() <= 128


def test_perfect_predictions_score_ap_one(tiny_data):
    dets = [[{"image_id": t["image_id"], "category_id": int(lab) + 1, "score": 1.0,
              "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
             for b, lab in zip((t["boxes"] / t["scale"]).tolist(), t["labels"])] for t in tiny_data.targets]
    m = coco_metrics(tiny_data, dets)
    assert m["AP"] == pytest.approx(1.0, abs=1e-6) and m["AP50"] == pytest.approx(1.0)
    assert m["AP_RBC"] == pytest.approx(1.0, abs=1e-6)
    untrained = evaluate(build_detector(SMALL), tiny_data)
    assert 0.0 <= untrained["AP"] < 0.2


def test_select_makes_an_independent_subset(tiny_data):
    sub = tiny_data.select([4, 1])
    assert len(sub) == 2 and sub.targets[0] is tiny_data.targets[4] and sub.records[1] is tiny_data.records[1]
    sub.images[0].zero_()
    assert tiny_data.images[4].any()
    assert len(tiny_data.select(slice(0, 3))) == 3
    with pytest.raises(ValueError, match="at least one"):
        tiny_data.select([])


def test_fit_loads_a_finished_run_and_keys_on_the_config(tiny_data, tmp_path):
    from detdesign.detection import fit
    from detdesign.results import content_key

    cfg = TrainConfig(epochs=1, batch_size=3, warmup_iters=1, max_iters_per_epoch=1)
    runs = tmp_path / "runs"
    f1 = fit(SMALL, cfg, tiny_data, runs)
    f2 = fit(SMALL, cfg, tiny_data, runs)  # finished: loaded, not retrained, and no load time added
    assert f1.history["loss"].tolist() == f2.history["loss"].tolist() and f2.seconds == f1.seconds > 0
    assert not f2.model.training
    assert all(torch.equal(a, b) for a, b in zip(f1.model.state_dict().values(), f2.model.state_dict().values()))
    other = TrainConfig(epochs=1, batch_size=3, warmup_iters=1, max_iters_per_epoch=1, seed=7)
    assert content_key(SMALL, cfg) != content_key(SMALL, other)
    fit(SMALL, other, tiny_data, runs)
    assert len(list(runs.iterdir())) == 2


def test_content_key_keeps_published_keys_and_separates_new_fields():
    from detdesign.results import content_key

    base = TrainConfig(epochs=1)
    # the hash of the plain repr: what every key was before the hidden fields existed
    import hashlib
    assert content_key(SMALL, base, 3) == hashlib.sha1(f"{SMALL!r}|{base!r}|3".encode()).hexdigest()[:12]
    assert content_key(TrainConfig(epochs=1, ema=0.99)) != content_key(base)
    assert content_key(TrainConfig(epochs=1, precision="bf16")) != content_key(base)
    ranged = DetectorConfig(image_size=128, head=HeadConfig(size_ranges=(16.0, 32.0)))
    assert content_key(ranged) != content_key(DetectorConfig(image_size=128))


def test_validation_curve_ema_and_convergence(tiny_data, tmp_path):
    from detdesign.detection import fit

    cfg = TrainConfig(epochs=4, batch_size=3, warmup_iters=1, max_iters_per_epoch=1, ema=0.9)
    f = fit(SMALL, cfg, tiny_data, tmp_path, val=tiny_data.select(slice(0, 3)))
    assert f.curve["epoch"].tolist() == [1, 2, 3, 4] and f.curve["AP"].between(0, 1).all()
    assert set(f.convergence) == {"gain", "rule", "converged", "points"} and f.convergence["points"] == 4
    again = fit(SMALL, cfg, tiny_data, tmp_path, val=tiny_data.select(slice(0, 3)))  # resumed from the checkpoint
    assert again.curve.equals(f.curve)


def test_evaluate_runs_on_the_dynamic_detector(tiny_data):
    from detdesign.detection import evaluate
    from detdesign.dynamic import DynamicConfig
    from detdesign.dynamic.training import build_dynamic

    model = build_dynamic(DynamicConfig(first=SMALL, second=SMALL))
    m = evaluate(model, tiny_data.select(slice(0, 2)))
    assert 0.0 <= m["AP"] <= 1.0


def test_bootstrap_over_images_reproduces_the_full_ap_and_pairs(tiny_data):
    import numpy as np

    from detdesign.detection.evaluate import _ap_of_resample, _cocoeval, bootstrap_ap, coco_metrics

    data = tiny_data.select(slice(0, 4))
    dets = [[{"image_id": r.image_id, "category_id": int(lab) + 1, "score": 0.9 - 0.1 * k,
              "bbox": [b[0] + 3, b[1], b[2] - b[0], b[3] - b[1]]}
             for k, (b, lab) in enumerate(zip(r.boxes.tolist(), r.labels))] for r in data.records]
    full = coco_metrics(data, dets)["AP"]
    ev = _cocoeval(data, dets)
    assert _ap_of_resample(ev, np.arange(len(data))) == pytest.approx(full, abs=1e-9)
    boot = bootstrap_ap(data, dets, n_resamples=20, seed=1, others=(dets,))
    assert boot.shape == (2, 20) and np.array_equal(boot[0], boot[1])  # same detections, same resamples


def _noisy_detections(data, seed):
    """Per image: every true box shifted and scored at random, plus false boxes (so precision varies)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dets = []
    for r in data.records:
        per = []
        for b, lab in zip(r.boxes.tolist(), r.labels):
            dx = float(rng.uniform(-8, 8))
            per.append({"image_id": r.image_id, "category_id": int(lab) + 1, "score": float(rng.uniform()),
                        "bbox": [b[0] + dx, b[1], b[2] - b[0], b[3] - b[1]]})
        for _ in range(3):
            x, y = rng.uniform(0, 100, 2)
            per.append({"image_id": r.image_id, "category_id": int(rng.integers(1, len(data.classes) + 1)),
                        "score": float(rng.uniform()), "bbox": [float(x), float(y), 20.0, 20.0]})
        dets.append(per)
    return dets


def test_weighted_ap_equals_pycocotools_accumulate_bit_for_bit(tiny_data):
    """The vectorised AP of a resample (weights = draw counts) is pycocotools' accumulate on that resample."""
    import numpy as np

    from detdesign.detection.evaluate import ImageMatches, _ap_of_resample, _cocoeval, coco_metrics, weighted_ap

    data = tiny_data
    dets = _noisy_detections(data, 0)
    ev, m = _cocoeval(data, dets), None
    m = ImageMatches(ev)
    n = len(data)
    assert weighted_ap([(m, np.ones(n))]) == coco_metrics(data, dets)["AP"]
    rng = np.random.default_rng(3)
    for _ in range(10):
        idx = np.sort(rng.integers(0, n, n))
        assert weighted_ap([(m, np.bincount(idx, minlength=n))]) == _ap_of_resample(ev, idx)


def test_weighted_ap_of_a_routing_equals_evaluating_the_routed_detections(tiny_data):
    import numpy as np

    from detdesign.detection.evaluate import ImageMatches, coco_metrics, weighted_ap

    data = tiny_data
    d1, d2 = _noisy_detections(data, 1), _noisy_detections(data, 2)
    m1, m2 = ImageMatches.of(data, d1), ImageMatches.of(data, d2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        hard = rng.uniform(size=len(data)) < 0.5
        routed = [b if h else a for a, b, h in zip(d1, d2, hard)]
        assert weighted_ap([(m1, ~hard), (m2, hard)]) == coco_metrics(data, routed)["AP"]
    assert weighted_ap([(None, np.ones(len(data)))]) == 0.0


def test_level_counts_follow_the_size_ranges():
    from detdesign.detection.head import FCOSHead

    head = FCOSHead(SMALL.head, 64, 1, (8, 16, 32))
    small = {"boxes": torch.tensor([[10.0, 10, 30, 30]]), "labels": torch.tensor([0])}
    large = {"boxes": torch.tensor([[0.0, 0, 128, 128]]), "labels": torch.tensor([0])}
    c_small, c_large = head.level_counts(128, [small]), head.level_counts(128, [large])
    assert c_small[0] > 0 and c_small[2] == 0 and c_large[2] > 0 and c_large[0] == 0
    with pytest.raises(ValueError, match="increasing boundaries"):
        FCOSHead(HeadConfig(size_ranges=(64.0, 32.0)), 64, 1, (8, 16, 32))


def test_study_train_overhead_reports_a_ratio(tiny_data):
    from detdesign.detection import train_overhead

    r = train_overhead(SMALL, tiny_data, batch_size=2, steps=1)
    assert r["ratio"] > 0 and r["images_per_s"] > 0 and r["full_s"] > 0
