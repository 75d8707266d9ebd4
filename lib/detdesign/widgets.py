"""Sliders where a reader wants to play, that degrade to a static figure in batch runs.

``explore(draw, depth=(2, 40, 1, 12), width=(8, 64, 8, 16))`` shows ``draw(depth=..., width=...)`` under one
slider per control when a person runs the notebook in JupyterLab (ipywidgets installed); every move redraws.
In batch runs (``make reproduce``, ``make test``, papermill through the runner: they set
``DETDESIGN_WIDGETS=0``) or without ipywidgets it calls ``draw`` once with the default values, so the stored
notebook carries a plain, static figure that renders on GitHub and in the site.

A control is ``(min, max, step, default)``: ints give an integer slider, floats a float slider.
"""

from __future__ import annotations

import os
from collections.abc import Callable

WIDGETS_ENV = "DETDESIGN_WIDGETS"


def interactive_wanted() -> bool:
    """Whether sliders should be live: ``$DETDESIGN_WIDGETS`` is not ``0``, ipywidgets is installed and the code
    runs in a Jupyter kernel."""
    if os.environ.get(WIDGETS_ENV, "1") == "0":
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _check(name: str, control) -> tuple:
    if not (isinstance(control, tuple) and len(control) == 4):
        raise TypeError(f"control {name!r} must be a tuple (min, max, step, default), got {control!r}")
    lo, hi, step, default = control
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in control):
        raise TypeError(f"control {name!r}: (min, max, step, default) must be numbers, got {control!r}")
    if not (lo <= default <= hi) or step <= 0:
        raise ValueError(f"control {name!r}: needs min <= default <= max and step > 0, got {control!r}")
    return control


def explore(draw: Callable, **controls):
    """``draw(**values)`` under live sliders (interactive) or once with the defaults (batch); returns the
    ipywidgets ``interactive`` widget, or ``draw``'s return value in batch mode."""
    if not controls:
        raise ValueError("explore() needs at least one control, e.g. depth=(2, 40, 1, 12)")
    controls = {name: _check(name, c) for name, c in controls.items()}
    if not interactive_wanted():
        return draw(**{name: c[3] for name, c in controls.items()})
    import ipywidgets as w
    from IPython.display import display

    sliders = {}
    for name, (lo, hi, step, default) in controls.items():
        kind = w.IntSlider if all(isinstance(v, int) for v in (lo, hi, step, default)) else w.FloatSlider
        sliders[name] = kind(min=lo, max=hi, step=step, value=default, description=name,
                             continuous_update=False)
    def show(**values):  # a figure is displayed inside the widget's output and closed, so it is not shown twice
        result = draw(**values)
        if hasattr(result, "savefig"):
            import matplotlib.pyplot as plt

            display(result)
            plt.close(result)
        elif result is not None:
            display(result)

    ui = w.interactive(show, **sliders)
    display(ui)
    return ui
