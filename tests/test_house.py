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


def _module_imports() -> dict[str, set[str]]:
    """Module -> the detdesign modules it imports anywhere (a deferred import inside a function still couples)."""
    import ast

    graph = {}
    for path in (REPO / "lib/detdesign").rglob("*.py"):
        parts = path.relative_to(REPO / "lib").with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("detdesign"):
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("detdesign"))
        graph[name] = deps
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def test_no_import_cycle_between_modules():
    graph = _module_imports()
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for d in graph[m]:
            if d.startswith(m + ".") or m.startswith(d + "."):  # a package and its own modules
                continue
            if state.get(d) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*stack, m, d])}")
            if d not in state:
                visit(d, [*stack, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_study_modules_define_no_shared_plumbing_and_no_verdict_rule():
    """Verdicts live in detdesign.claims; curve readers, population runners and bootstraps in the library."""
    offenders = []
    verdict = re.compile(r'"(yes|no|partly)" if ')
    plumbing = re.compile(r"^def (_?curves|_?paired_bootstrap|_?bootstrap\w*|_sign|train_population|read_curve)\(",
                          re.M)
    for path in (REPO / "lib/detdesign/studies").glob("*.py"):
        text = path.read_text()
        offenders += [f"{path.name}: verdict rule" for _ in verdict.finditer(text)]
        offenders += [f"{path.name}: def {m.group(1)}" for m in plumbing.finditer(text)]
    assert offenders == [], offenders


def test_readme_library_map_names_every_registered_proxy():
    from detdesign.proxies import list_proxies

    readme = (REPO / "README.md").read_text()
    library = readme[readme.index("## The library"):]
    entry = library[library.index("  proxies/"):library.index("  detection/")]
    names = list_proxies()
    assert [n for n in names if not re.search(rf"\b{n}\b", entry)] == [], "the README's proxies/ entry lists them all"
    assert f"({len(names)}; `detdesign proxies`)" in " ".join(entry.split())
