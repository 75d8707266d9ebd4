"""Every published training and search keeps its content key: a refactor that changed one would silently retrain.

The jobs are rebuilt here from the library's factories with the full profile's sizes and the split lengths of
the published data (CIFAR-10 Scenes v1: 1,000 / 300 / 1,000; BCCD: 205 / 87 / 72), with the settings the
published runs used (fp32, channels_last), and each key must be a row of the committed cache ``data/cache/``.
"""

import json
from pathlib import Path

from detdesign import profile
from detdesign.classification import CifarRecipe, ClassifierJob
from detdesign.detection import recipe as presets
from detdesign.detection.ablation import neck_detector, neck_variants
from detdesign.detection.config import DetectorConfig
from detdesign.detection.efficientdet_model import EfficientDetSpec
from detdesign.detection.experiment import DetectorJob
from detdesign.dynamic import DynamicConfig, DynamicJob
from detdesign.results import content_key
from detdesign.scaling.matched_grid import GridSpec, grid_points
from detdesign.search.maedet_space import budget_network
from detdesign.search.zennas_space import zen_budget

REPO = Path(__file__).resolve().parents[1]
FULL = profile("full")
T, G, M, Z = FULL.testbed, FULL.grid, FULL.maedet, FULL.zen_search
PUBLISHED = {"precision": "fp32", "channels_last": True}
SCENES = {"train": range(1000), "val": range(300), "test": range(1000)}
BCCD = {"train": range(205), "val": range(87), "test": range(72)}
ZEN_OBJECTIVES = ("Zen-NAS", "TE-NAS", "NASWOT", "synflow", "FLOPs", "grad-norm", "random")


def cache(name: str) -> dict:
    return json.loads((REPO / "data" / "cache" / f"{name}.json").read_text())


def recipe(seed: int, epochs: int | None = None):
    return presets.testbed_recipe(T, seed, epochs=epochs, **PUBLISHED)


def test_testbed_reference_detectors():
    ref = presets.reference_detector(T.image_size, 10)
    keys = [DetectorJob(ref, recipe(s), validate=True, bootstrap=T.bootstrap).key(SCENES) for s in T.seeds]
    bccd = presets.reference_detector(T.image_size, 3)
    keys.append(DetectorJob(bccd, recipe(T.seeds[0], T.bccd_epochs), validate=True, bootstrap=T.bootstrap).key(BCCD))
    assert set(keys) <= set(cache("00c_testbed")), keys


def test_neck_ablation_and_efficientdet():
    necks = neck_variants(T.image_size)
    keys = [DetectorJob(neck_detector(T.image_size, necks[v]), recipe(s), validate=True, bootstrap=T.bootstrap,
                        keep_boot=True).key(SCENES)
            for v in ("BiFPN fast", "BiFPN softmax", "FPN matched") for s in FULL.effdet.seeds]
    keys.append(DetectorJob(EfficientDetSpec("d0", num_classes=10, image_size=T.image_size), recipe(0),
                            validate=True, bootstrap=T.bootstrap, keep_boot=True).key(SCENES))
    assert set(keys) <= set(cache("04_detectors")), keys


def test_compound_grid_points():
    pts = grid_points(GridSpec(steps=tuple(float(k) for k in G.steps)))
    keys = [ClassifierJob("grid-train", "", r["config"], s, CifarRecipe.of(G), int(r["size"])).key()
            for _, r in pts.iterrows() for s in G.seeds]
    assert len(keys) == 18 and set(keys) <= set(cache("04_grid")), keys


def test_maedet_budget_network_and_search_winners():
    winners = [r["best"] for r in cache("03_maedet_search").values()]
    assert len(winners) == 4
    keys = [DetectorJob(presets.p3p7_detector(s, T.image_size, 10), recipe(seed), validate=True, bootstrap=T.bootstrap,
                        keep_boot=True).key(SCENES) for s in [budget_network(M.divisor), *winners] for seed in M.seeds]
    keys += [DetectorJob(presets.p3p7_detector(s, T.image_size, 3), recipe(seed), validate=True, bootstrap=T.bootstrap,
                         keep_boot=True).key(BCCD) for s in [budget_network(M.divisor), *winners]
             for seed in M.bccd_seeds]
    assert set(keys) <= set(cache("03_maedet_detectors")), keys


def test_dynamic_stage1():
    ref = presets.reference_detector(T.image_size, 10)
    keys = [DynamicJob("scenes", DynamicConfig(first=ref, second=ref), recipe(s)).key(SCENES) for s in T.seeds]
    det = presets.reference_detector(T.image_size, 3)
    keys.append(DynamicJob("bccd", DynamicConfig(first=det, second=det), recipe(T.seeds[0], T.bccd_epochs))
                .key(BCCD))
    assert set(keys) <= set(cache("05_dynamic")), keys


def test_zen_nas_searches_and_winners():
    budget = zen_budget(Z.params, Z.macs, Z.max_layers)
    search_keys = [content_key("zen-search", lab, Z.population, Z.iterations, Z.proxy_batch, budget, 0)
                   for lab in ZEN_OBJECTIVES]
    found = cache("06_search")
    assert set(search_keys) == set(found)
    keys = [ClassifierJob("zen-train", "", found[k]["best"], s, CifarRecipe.of(Z)).key()
            for k in search_keys for s in Z.seeds]
    assert set(keys) == set(cache("06_train")), keys


def test_detector_configs_print_as_published():
    """The repr is the key's text: a renamed field or class would change every key above."""
    assert repr(DetectorConfig(image_size=256, num_classes=10)).startswith("DetectorConfig(backbone='SuperConvK3BNR")


def test_a_full_run_replays_the_published_keys_where_auto_would_pick_bf16(monkeypatch):
    """On a machine whose ``auto`` precision is bf16, PROFILE=full still uses the published fp32 (data/published.json)
    and finds the committed rows; ``DETDESIGN_PRECISION=auto`` opts into the machine's own choice."""
    import detdesign.run as run_module
    from detdesign import Run

    monkeypatch.setattr(run_module, "bf16_is_fast", lambda device: True)
    monkeypatch.delenv("DETDESIGN_PRECISION", raising=False)
    run = Run.from_env("full", executor=run_module.ExecutorConfig("serial"))
    assert run.speed == PUBLISHED
    ref = presets.reference_detector(T.image_size, 10)
    key = DetectorJob(ref, presets.testbed_recipe(T, 0, **run.speed), validate=True, bootstrap=T.bootstrap).key(SCENES)
    assert key in cache("00c_testbed")
    assert Run.from_env("quick", executor=run_module.ExecutorConfig("serial")).precision == "bf16"
    monkeypatch.setenv("DETDESIGN_PRECISION", "auto")
    assert Run.from_env("full", executor=run_module.ExecutorConfig("serial")).precision == "bf16"


def test_every_published_row_records_the_version_it_is_stored_under():
    """A row's recorded ``_version`` (rows written before versions were recorded have none: version 1) must be the
    version its key is stored under, so a hand-copied or stale row cannot pass as current."""
    import re

    for path in sorted((REPO / "data" / "cache").glob("*.json")):
        for key, row in json.loads(path.read_text()).items():
            m = re.search(r"\|v([0-9]+)$", key)
            assert row.get("_version", int(m.group(1)) if m else 1) == (int(m.group(1)) if m else 1), (path, key)
