import io
import os
import pickle
import shutil
import tarfile

import numpy as np
import pytest
import torch
from pycocotools.cocoeval import COCOeval

from detdesign.data import DataNotFoundError, coco_api, data_root, find, load_bccd, load_cifar10, to_coco
from detdesign.data.bccd import letterbox
from detdesign.data.cifar import CLASSES


def test_data_root_order(monkeypatch, tmp_path, root):
    assert data_root(tmp_path) == tmp_path.resolve()
    monkeypatch.setenv("DETDESIGN_DATA", str(tmp_path))
    assert data_root() == tmp_path.resolve()
    monkeypatch.delenv("DETDESIGN_DATA")
    from conftest import REPO
    monkeypatch.setenv("DETDESIGN_HOME", str(REPO))
    assert data_root() == (REPO.parent / "shared" / "datasets").resolve() == root


def test_missing_file_names_file_root_and_env_var(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        find("bccd/Annotations/x.xml", tmp_path)
    msg = str(err.value)
    assert "bccd/Annotations/x.xml" in msg and str(tmp_path) in msg and "DETDESIGN_DATA" in msg
    with pytest.raises(DataNotFoundError, match="DETDESIGN_DATA"):
        load_cifar10("train", root=tmp_path)
    with pytest.raises(DataNotFoundError, match="train.txt"):
        load_bccd("train", root=tmp_path)


# ---------------------------------------------------------------- CIFAR-10
def test_cifar_subset_is_balanced_and_deterministic(root):
    a = load_cifar10("test", n_per_class=3, seed=1)
    b = load_cifar10("test", n_per_class=3, seed=1)
    c = load_cifar10("test", n_per_class=3, seed=2)
    assert a.images.shape == (30, 32, 32, 3) and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    assert np.bincount(a.labels).tolist() == [3] * 10
    x, _ = a.tensors()
    assert x.shape == (30, 3, 32, 32) and abs(float(x.mean())) < 1.0


def test_cifar_bad_arguments(root):
    with pytest.raises(ValueError, match="valid splits"):
        load_cifar10("validation")
    with pytest.raises(ValueError, match="exceeds"):
        load_cifar10("test", n_per_class=1001)
    with pytest.raises(ValueError, match=">= 1"):
        load_cifar10("test", n_per_class=0)


def _fake_release(tmp_path, payload: bytes):
    folder = tmp_path / "cifar10"
    folder.mkdir(exist_ok=True)
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))


def _trust(monkeypatch, payload: bytes):
    """Make the fake batch's MD5 the 'official' one (the real release's checksums would refuse a fake)."""
    import hashlib

    import detdesign.data.cifar as cifar
    monkeypatch.setattr(cifar, "_official_md5", lambda split: [("test_batch", hashlib.md5(payload).hexdigest())])


def test_cifar_official_pickle_release_is_read(tmp_path, monkeypatch):
    """The official python tarball (here a fake in its exact layout, trusted by MD5) takes precedence."""
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 255, (20, 3072), dtype=np.uint8), b"labels": [i % 10 for i in range(20)]}
    payload = pickle.dumps(batch)
    _fake_release(tmp_path, payload)
    _trust(monkeypatch, payload)
    got = load_cifar10("test", root=tmp_path)
    assert got.source == "official-python" and got.images.shape == (20, 32, 32, 3)
    assert np.array_equal(got.images[0], batch[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert CLASSES[got.labels[3]] == "cat"


def test_cifar_pickle_from_the_data_root_is_checked_before_unpickling(tmp_path, monkeypatch):
    """A batch that is not the official file is refused by its MD5, unread; one that passes the MD5 check but
    names any global besides numpy's array reconstruction is refused by the unpickler (no code runs)."""
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    payload = pickle.dumps({b"data": Evil(), b"labels": [0]})
    _fake_release(tmp_path, payload)
    with pytest.raises(ValueError, match="not the official CIFAR-10 file"):
        load_cifar10("test", root=tmp_path)
    _trust(monkeypatch, payload)
    with pytest.raises(pickle.UnpicklingError, match="may not reference"):
        load_cifar10("test", root=tmp_path)
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- BCCD
def test_bccd_splits_and_degenerate_boxes(root):
    sizes = {s: len(load_bccd(s)) for s in ("train", "val", "trainval", "test")}
    assert sizes == {"train": 205, "val": 87, "trainval": 292, "test": 72}
    assert load_bccd("trainval").report.dropped_degenerate == 2
    with pytest.raises(ValueError, match="valid splits"):
        load_bccd("dev")


def _mini_voc(tmp_path, root, n=3):
    """A copy of the first ``n`` training images of BCCD in VOC layout, to corrupt at will."""
    src, dst = root / "bccd", tmp_path / "bccd"
    ids = (src / "ImageSets/Main/train.txt").read_text().split()[:n]
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (dst / sub).mkdir(parents=True)
    for i in ids:
        shutil.copy(src / "Annotations" / f"{i}.xml", dst / "Annotations")
        shutil.copy(src / "JPEGImages" / f"{i}.jpg", dst / "JPEGImages")
    (dst / "ImageSets/Main/train.txt").write_text("\n".join(ids) + "\n")
    return dst, ids


def test_bccd_corrupt_and_empty_annotation(tmp_path, root):
    dst, ids = _mini_voc(tmp_path, root)
    (dst / "Annotations" / f"{ids[0]}.xml").write_text("")
    with pytest.raises(ValueError, match=f"{ids[0]}.xml.*empty"):
        load_bccd("train", root=tmp_path)
    (dst / "Annotations" / f"{ids[0]}.xml").write_text("<annotation><size><width>64")
    with pytest.raises(ValueError, match="corrupt annotation"):
        load_bccd("train", root=tmp_path)


def test_bccd_boxes_outside_are_clipped_and_counted(tmp_path, root):
    dst, ids = _mini_voc(tmp_path, root)
    xml = dst / "Annotations" / f"{ids[1]}.xml"
    text = xml.read_text()
    first = text.index("<xmax>")
    end = text.index("</xmax>")
    xml.write_text(text[:first] + "<xmax>9999" + text[end:])
    ds = load_bccd("train", root=tmp_path)
    assert ds.report.clipped == 1
    assert max(float(r.boxes[:, 2].max()) for r in ds.records if len(r.boxes)) <= 640


def test_bccd_image_without_boxes_is_a_valid_negative(tmp_path, root):
    dst, ids = _mini_voc(tmp_path, root)
    xml = dst / "Annotations" / f"{ids[0]}.xml"
    text = xml.read_text()
    xml.write_text(text[: text.index("<object>")] + "</annotation>\n")
    ds = load_bccd("train", root=tmp_path, size=256)
    img, tgt = ds[0]
    assert img.shape == (3, 256, 256) and tgt["boxes"].shape == (0, 4) and tgt["labels"].numel() == 0


def test_letterbox_and_flip_keep_boxes_consistent(root):
    raw = load_bccd("train")
    image, target = raw[0]
    small, t2 = letterbox(image, target, 320)
    scale = 320 / 640
    assert small.shape == (3, 320, 320)
    assert torch.allclose(t2["boxes"], target["boxes"] * scale, atol=1e-4)
    assert (small[:, 241:, :] == 114).all(), "bottom padding"
    torch.manual_seed(0)
    flipped = [load_bccd("train", size=320, train=True)[0] for _ in range(8)]
    widths = {tuple((t["boxes"][:, 2] - t["boxes"][:, 0]).round().tolist()) for _, t in flipped}
    xs = {round(float(t["boxes"][0, 0]), 2) for _, t in flipped}
    assert len(widths) == 1, "a flip keeps box widths"
    assert len(xs) == 2, "both flipped and unflipped draws occur"


def test_coco_conversion_and_perfect_prediction_ap(root):
    ds = load_bccd("test")
    gt = to_coco(ds.records)
    assert len(gt["images"]) == 72 and len(gt["annotations"]) == ds.report.boxes
    assert {c["name"] for c in gt["categories"]} == {"RBC", "WBC", "Platelets"}
    assert "info" in gt, "pycocotools <= 2.0.10's loadRes copies gt['info'] (KeyError without it)"
    ann = gt["annotations"][0]
    rec = next(r for r in ds.records if r.image_id == ann["image_id"])
    x0, y0, w, h = ann["bbox"]
    assert [x0, y0, x0 + w, y0 + h] == pytest.approx(rec.boxes[0].tolist())
    coco = coco_api(ds.records)
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in gt["annotations"]]
    ev = COCOeval(coco, coco.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0) and ev.stats[1] == pytest.approx(1.0)
