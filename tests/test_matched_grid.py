"""The compound-scaling grid that can decide (detdesign.scaling.matched_grid): every axis lands on the same MACs."""

import pytest

from detdesign.arch.efficientnet import round_filters
from detdesign.scaling.compound import Compound
from detdesign.scaling.matched_grid import BASE16, GridSpec, grid_points, macs, matched


@pytest.fixture(scope="module")
def points():
    return grid_points(GridSpec(steps=(1.0,))).set_index("axis")


def test_every_axis_is_matched_to_twice_the_base_macs(points):
    assert points.loc["base", "macs"] == macs(BASE16, 16)
    for axis in ("width", "depth", "resolution", "compound"):
        r = points.loc[axis]
        assert r["within"] and abs(r["macs_ratio"] / 2 - 1) <= 0.05, (axis, r["macs_ratio"])
        assert r["macs"] == macs(r["config"], r["size"])  # the realised network, not the nominal multiplier


def test_each_axis_changes_only_its_own_dimension(points):
    base = points.loc["base"]
    w, d, r, c = (points.loc[a] for a in ("width", "depth", "resolution", "compound"))
    assert w["channels"] > base["channels"] and (w["blocks"], w["size"]) == (base["blocks"], base["size"])
    assert d["blocks"] > base["blocks"] and (d["channels"], d["size"]) == (base["channels"], base["size"])
    assert r["size"] > base["size"] and (r["blocks"], r["channels"]) == (base["blocks"], base["channels"])
    assert c["blocks"] > base["blocks"] and c["channels"] > base["channels"] and c["size"] > base["size"]
    assert w["channels"] == round_filters(64, w["multiplier"])


def test_an_axis_that_cannot_reach_the_target_is_flagged_not_hidden():
    # the resolution axis stops at the data's 32 px: asking for 8x the base MACs cannot be matched
    r = matched(GridSpec(steps=(3.0,)), "resolution", 3.0)
    assert r["size"] == 32 and not r["within"] and r["macs_ratio"] < 8 * 0.95


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="base_size"):
        GridSpec(base_size=40)
    with pytest.raises(ValueError, match="tolerance"):
        GridSpec(tolerance=0)
    with pytest.raises(ValueError, match="axis must be one of"):
        matched(GridSpec(), "height", 1.0, Compound())


def test_cifar_splits_hold_out_validation_images_and_correctness_round_trips():
    import numpy as np
    import torch

    from detdesign.classification import pack_correct, unpack_correct
    from detdesign.data.cifar import cifar_splits, holdout_mask

    y = torch.tensor([0, 1, 0, 1, 0, 1] + list(range(2, 10)) * 2)
    mask = holdout_mask(y, 1)
    assert int(mask.sum()) == 10 and mask[4] and not mask[0]  # the last image of every class
    d = cifar_splits(3, 1, 1, seed=0)
    assert [len(d[k][1]) for k in ("train", "val", "test")] == [30, 10, 10]
    assert torch.bincount(d["val"][1]).tolist() == [1] * 10 and torch.bincount(d["train"][1]).tolist() == [3] * 10
    flags = np.random.default_rng(0).random(37) > 0.5
    assert (unpack_correct(pack_correct(flags), 37) == flags).all()
