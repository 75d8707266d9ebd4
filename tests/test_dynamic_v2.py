"""DynamicDet on testbed v2: a frozen, pre-trained detector 1 (stage 1 trains detector 2 alone) and the router's
fresh scenes (new compositions of images neither detector trained on)."""

import numpy as np
import pytest
import torch

from detdesign.data.testbed import ROUTER_STREAM, VARIANTS, load_router_splits
from detdesign.detection import DetectorConfig
from detdesign.detection.model import build_detector
from detdesign.dynamic import DynamicConfig, build_dynamic

DET = DetectorConfig(image_size=64, num_classes=4)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def _standalone_ckpt(tmp_path, key="abc123"):
    det = build_detector(DET, seed=3)
    with torch.no_grad():
        for p in det.parameters():
            p.add_(0.01)
    folder = tmp_path / key
    folder.mkdir()
    ema = {"n_averaged": torch.tensor(7), **{f"module.{k}": v for k, v in det.state_dict().items()}}
    torch.save({"model": det.state_dict(), "ema": ema}, folder / "last.pt")
    return det, folder / "last.pt"


def test_a_frozen_detector_1_takes_the_standalone_weights_and_never_moves(tmp_path):
    det, ckpt = _standalone_ckpt(tmp_path)
    cfg = DynamicConfig(first=DET, second=DET, first_from="abc123")
    model = build_dynamic(cfg, seed=0, first_ckpt=ckpt)
    before = {k: v.clone() for k, v in model.first.state_dict().items()}
    assert all(torch.equal(before[k], v) for k, v in det.state_dict().items())
    second0 = [p.clone() for p in model.second.parameters()]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    assert not model.first.training and model.second.training  # BN statistics of detector 1 stay put
    images = torch.rand(2, 3, 64, 64) * 255
    targets = [{"boxes": torch.tensor([[4.0, 4.0, 40.0, 40.0]]), "labels": torch.tensor([1])}] * 2
    loss, per = model.loss(images, targets)
    assert torch.allclose(loss, per["l2"].mean())  # detector 2's loss alone
    loss.backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in model.first.state_dict().items())
    assert any(not torch.equal(a, b) for a, b in zip(second0, model.second.parameters()))


def test_first_ckpt_must_be_the_one_the_config_names(tmp_path):
    _, ckpt = _standalone_ckpt(tmp_path)
    with pytest.raises(ValueError, match="first_from is empty"):
        build_dynamic(DynamicConfig(first=DET, second=DET), first_ckpt=ckpt)
    with pytest.raises(ValueError, match="not the checkpoint"):
        build_dynamic(DynamicConfig(first=DET, second=DET, first_from="other"), first_ckpt=ckpt)
    with pytest.raises(TypeError, match="checkpoint key"):
        DynamicConfig(first=DET, second=DET, first_from=1)


def test_the_joint_config_keeps_its_published_repr():
    # first_from is a hidden field: configs without it keep the keys the published 05 caches were stored under
    assert "first_from" not in repr(DynamicConfig(first=DET, second=DET))


def test_router_scenes_are_new_compositions_apart_from_the_fixed_splits(root):
    v = VARIANTS["v2-4c-256"]
    splits = load_router_splits(v, 3, 2)
    from detdesign.data.scenes import load_scenes

    fixed = load_scenes("val", 3, v.scenes, v.key())
    assert len(splits["router"]) == 3 and len(splits["thresholds"]) == 2
    assert not np.array_equal(splits["router"].images[0].numpy(), fixed.images[0].numpy())
    assert not np.array_equal(splits["router"].images[0].numpy(), splits["thresholds"].images[0].numpy())
    assert splits["router"].source.endswith(f"stream {ROUTER_STREAM}") and splits["router"].source != fixed.source
    again = load_router_splits(v, 3, 2)["router"]
    assert torch.equal(again.images, splits["router"].images)  # deterministic
    with pytest.raises(ValueError, match="online"):
        load_router_splits("v1", 3, 2)
