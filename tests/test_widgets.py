"""Sliders degrade to one static call in batch runs and validate their controls."""

import pytest

from detdesign import widgets


def test_batch_mode_draws_once_with_the_defaults(monkeypatch):
    monkeypatch.setenv("DETDESIGN_WIDGETS", "0")
    calls = []
    out = widgets.explore(lambda depth, width: calls.append((depth, width)) or "drawn", depth=(2, 30, 1, 12),
                          width=(8, 48, 8, 16))
    assert out == "drawn" and calls == [(12, 16)]
    monkeypatch.setenv("DETDESIGN_WIDGETS", "1")
    assert not widgets.interactive_wanted()  # not inside a Jupyter kernel: still static
    assert widgets.explore(lambda x: x * 2, x=(0.0, 1.0, 0.1, 0.5)) == 1.0


@pytest.mark.parametrize("control, error", [((1, 2, 3), TypeError), ((1, 5, 1, 9), ValueError),
                                            ((1, 5, 0, 2), ValueError), (("a", 5, 1, 2), TypeError)])
def test_bad_controls_say_what_is_wrong(control, error):
    with pytest.raises(error, match="control 'depth'"):
        widgets.explore(lambda depth: None, depth=control)
    with pytest.raises(ValueError, match="at least one control"):
        widgets.explore(lambda: None)
