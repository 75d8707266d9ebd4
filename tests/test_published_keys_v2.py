"""The published testbed-v2 trainings keep their content keys (see tests/test_published_keys.py)."""

import json
from pathlib import Path

from detdesign import profile
from detdesign.detection import recipe as presets
from detdesign.detection.ablation import neck_variants
from detdesign.detection.experiment import DetectorJob

REPO = Path(__file__).resolve().parents[1]
FULL = profile("full")


def cache(name: str) -> dict:
    return json.loads((REPO / "data" / "cache" / f"{name}.json").read_text())


class _Split:
    """What a job key reads from a split: its length and the testbed variant it came from."""

    def __init__(self, n: int, source: str | None):
        self.n, self.source = n, source

    def __len__(self) -> int:
        return self.n


def test_testbed_v2_pilot_and_reference():
    """The pilot of 00c (every variant x neck x seed) and the reference detector on the registered v2, with the
    settings the published v2 runs used (bf16 + channels_last, data/published.json)."""
    from detdesign.data.testbed import V2, get_variant
    from detdesign.run import published_settings

    V = FULL.testbed_v2
    speed = published_settings()["testbed_v2"]
    keys = []
    for name in V.variants:
        v = get_variant(name)
        splits = {"train": _Split(V.scenes_per_epoch, v.key()), "test": _Split(V.n_test, v.key())}
        necks = neck_variants(v.canvas)
        keys += [DetectorJob(presets.testbed_detector(v, necks[neck]), presets.variant_recipe(
            V.epochs, V.batch_size, V.lr, V.ema, s, **speed), bootstrap=V.bootstrap, keep_boot=True).key(splits)
            for neck in V.necks for s in V.seeds]
    assert set(keys) <= set(cache("00c_pilot")), keys
    v = get_variant(V2)
    ref = {"train": _Split(V.ref_scenes_per_epoch, v.key()), "val": _Split(V.n_val, v.key()),
           "test": _Split(V.n_test, v.key())}
    ref_keys = [DetectorJob(presets.testbed_detector(v), presets.variant_recipe(
        e, V.batch_size, V.lr, V.ema, s, **speed), validate=True, bootstrap=V.bootstrap, keep_boot=True).key(ref)
        for s, e in [*((s, V.ref_epochs) for s in V.ref_seeds),
                     *([(V.ref_seeds[0], 2 * V.ref_epochs)] if V.ref_doubling else [])]]
    assert set(ref_keys) <= set(cache("00c_v2")), ref_keys
