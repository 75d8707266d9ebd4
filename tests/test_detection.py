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
    evaluate,
    preprocess,
    train,
)
from detdesign.detection.backbone import Backbone
from detdesign.detection.config import NeckConfig
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
                                             flip=False))
    first, last = hist["loss"].iloc[:2].mean(), hist["loss"].iloc[-2:].mean()
    assert last < 0.7 * first, (first, last)


def test_checkpoint_resume_is_identical(tiny_data, tmp_path, monkeypatch):
    import detdesign.detection.training as tr

    cfg = TrainConfig(epochs=2, batch_size=3, warmup_iters=1)
    a = build_detector(SMALL, seed=1)
    full = train(a, tiny_data, cfg)
    real_save = tr._save

    def save_then_die(path, state):  # the process is killed right after the first epoch's checkpoint
        real_save(path, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(build_detector(SMALL, seed=1), tiny_data, cfg, ckpt_dir=tmp_path)
    monkeypatch.setattr(tr, "_save", real_save)
    c = build_detector(SMALL, seed=1)
    resumed = train(c, tiny_data, cfg, ckpt_dir=tmp_path)
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
    from detdesign.detection import fit, run_key

    cfg = TrainConfig(epochs=1, batch_size=3, warmup_iters=1, max_iters_per_epoch=1)
    runs = tmp_path / "runs"
    m1, h1, s1 = fit(SMALL, cfg, tiny_data, runs)
    m2, h2, s2 = fit(SMALL, cfg, tiny_data, runs)  # finished: loaded, not retrained
    assert h1["loss"].tolist() == h2["loss"].tolist() and s2 == pytest.approx(s1, rel=0.5)
    assert not m2.training
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    other = TrainConfig(epochs=1, batch_size=3, warmup_iters=1, max_iters_per_epoch=1, seed=7)
    assert run_key(SMALL, cfg) != run_key(SMALL, other)
    fit(SMALL, other, tiny_data, runs)
    assert len(list(runs.iterdir())) == 2


def test_study_train_overhead_reports_a_ratio(tiny_data):
    from detdesign.studies.detector import train_overhead

    r = train_overhead(SMALL, tiny_data, batch_size=2, steps=1)
    assert r["ratio"] > 0 and r["images_per_s"] > 0 and r["full_s"] > 0
