import dataclasses

import pytest
import torch

import detdesign
from detdesign import repro
from detdesign.profiles import profile_names


def test_known_profiles_are_frozen_and_ordered():
    assert profile_names() == ("smoke", "quick", "full")
    p = detdesign.profile("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"
    assert not p.assert_claims and detdesign.profile("full").assert_claims


def test_unknown_profile_lists_valid_names():
    with pytest.raises(ValueError, match="'smoke', 'quick', 'full'"):
        detdesign.profile("huge")
    with pytest.raises(TypeError):
        detdesign.profile(3)


def test_profile_from_env(monkeypatch):
    monkeypatch.setenv("DETDESIGN_PROFILE", "smoke")
    assert detdesign.profile().name == "smoke"
    monkeypatch.delenv("DETDESIGN_PROFILE")
    assert detdesign.profile().name == "quick"


def test_seeding_is_deterministic():
    g1 = repro.setup(7, threads=1)
    a = torch.randn(3, generator=g1), torch.randn(3)
    g2 = repro.setup(7, threads=1)
    b = torch.randn(3, generator=g2), torch.randn(3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(TypeError):
        repro.seed_everything(1.5)
    with pytest.raises(ValueError):
        repro.deterministic(0)


def test_fingerprint_names_packages_and_threads():
    fp = repro.fingerprint()
    assert fp.packages["torch"].startswith("2.") and fp.threads >= 1 and fp.cores >= 1
    assert "torch threads" in str(fp) and repro.fingerprint_dict()["python"]
