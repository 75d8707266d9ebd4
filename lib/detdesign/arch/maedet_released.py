"""The three MAE-DET backbones released with TinyNAS (``configs/detection/models/maedet_{s,m,l}.txt`` of
alibaba/lightweight-neural-architecture-search), as structure data, and their published parameter counts."""

from detdesign.arch.tinynas_format import TinyBlock, parse_tinynas


def _k1(cin, cout, k, units, btn):
    return {"class": "SuperResK1KXK1", "in": cin, "out": cout, "s": 2, "k": k, "L": units, "btn": btn}


def _stem(cout):
    return {"class": "ConvKXBNRELU", "in": 3, "out": cout, "s": 2, "k": 3}


RELEASED = {
    "maedet_s": [_stem(32), _k1(32, 48, 5, 2, 32), _k1(48, 272, 3, 4, 120), _k1(272, 1024, 5, 10, 80),
                 _k1(1024, 2048, 3, 10, 240)],
    "maedet_m": [_stem(64), _k1(64, 120, 3, 2, 64), _k1(120, 512, 5, 10, 72), _k1(512, 1632, 5, 10, 112),
                 _k1(1632, 2048, 5, 8, 184)],
    "maedet_l": [_stem(80), _k1(80, 144, 3, 2, 80), _k1(144, 608, 5, 12, 88), _k1(608, 1912, 5, 12, 136),
                 _k1(1912, 2400, 5, 10, 220)],
}
PUBLISHED_PARAMS_M = {"maedet_s": 21.2, "maedet_m": 25.8, "maedet_l": 43.9}  # the release's backbone sizes


def released(name: str) -> list[TinyBlock]:
    """One released backbone as :class:`TinyBlock` s (``"maedet_s"``, ``"maedet_m"`` or ``"maedet_l"``)."""
    if name not in RELEASED:
        raise ValueError(f"unknown released MAE-DET backbone {name!r}; known: {', '.join(RELEASED)}")
    return parse_tinynas(RELEASED[name])
