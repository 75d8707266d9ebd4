"""House rules that a grep can check: studies are leaves, lists come from the registries."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUDY_IMPORT = re.compile(r"^\s*(from|import)\s+detdesign\.studies", re.M)


def test_nothing_outside_studies_imports_a_study_module():
    offenders = []
    for folder in ("lib/detdesign", "benchmarks", "tests", "scripts"):
        for path in (REPO / folder).rglob("*.py"):
            if "studies" in path.relative_to(REPO).parts[:3] and folder == "lib/detdesign":
                continue
            if STUDY_IMPORT.search(path.read_text()):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == [], f"import a study module only from notebooks: {offenders}"


def test_proxy_lists_come_from_the_registry():
    study = (REPO / "lib/detdesign/studies/proxy_accuracy.py").read_text()
    assert re.search(r"^PROXIES = tuple\((p for p in )?list_proxies\(", study, re.M), \
        "notebook 02's list is a registry query"
    tests = (REPO / "tests/test_proxy_suite.py").read_text()
    assert re.search(r"^ALL = tuple\(list_proxies\(", tests, re.M), "the proxy tests are parametrised by the registry"
