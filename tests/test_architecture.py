"""The shape of the house (docs/architecture.md): `web/` and `workers/` call into the areas of
`alliance/`, the areas into `alliance/core/`; imports go one way and never round in a circle.

The walk reads every import of every module, those inside functions too, since an import that is
deferred to call time still ties the two modules together."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "alliance"
AREAS = (
    "core",
    "households",
    "partners",
    "matching",
    "visits",
    "events",
    "targets",
    "notifications",
    "cases",
)
# Core's foundation depends on nothing of ours; the authorization, audit, accounts and regions
# services of core read the models of every area (authorization must see what it guards) but
# never an area's rules.
FOUNDATION = {f"alliance.core.{name}" for name in ("codes", "config", "db", "embedded", "errors")} | {
    f"alliance.core.{name}"
    for name in ("crypto", "encrypted_columns", "i18n", "labels", "privacy", "timeutil")
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every module named by an import in the file, `from pkg import module` resolved to the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if f"{node.module}.{alias.name}" in known
            )
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, known) for name, path in modules.items()}


def _layer(module: str) -> int:
    if module in FOUNDATION or module in ("alliance", "alliance.core"):
        return 0
    if module.endswith(".models"):
        return 1
    if module.startswith("alliance.core."):
        return 2
    return 3


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in AREAS else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_area_is_a_package_with_its_models_beside_its_rules():
    for area in AREAS:
        folder = PACKAGE / area
        assert (folder / "__init__.py").is_file(), f"alliance/{area}/ is not a package"
        assert (folder / "models.py").is_file(), f"alliance/{area}/ has no models.py"
    flat = sorted(path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert flat == [], f"modules left at the top of alliance/ (put each in its area): {flat}"


def test_tortoise_lists_each_area_models_module():
    from alliance.core.db import tortoise_config

    listed = tortoise_config("sqlite://:memory:")["apps"]["models"]["models"]
    assert sorted(listed) == sorted(f"alliance.{area}.models" for area in AREAS)


def test_alliance_never_imports_web_workers_fixtures_or_tests():
    outward = {
        module: sorted(
            name for name in imports if name.split(".")[0] in ("web", "workers", "fixtures", "tests")
        )
        for module, imports in _graph().items()
    }
    assert {module: names for module, names in outward.items() if names} == {}


def test_no_import_circle_between_modules():
    graph = {
        module: {name for name in imports if name.startswith("alliance")}
        for module, imports in _graph().items()
    }
    assert _cycles(graph) == []


def test_imports_go_down_the_layers_foundation_models_core_areas():
    wrong = []
    for module, imports in _graph().items():
        for name in imports:
            if name.startswith("alliance") and name in _modules_cache() and _layer(name) > _layer(module):
                wrong.append(f"{module} (layer {_layer(module)}) imports {name} (layer {_layer(name)})")
    assert wrong == [], "\n".join(sorted(wrong))


def test_areas_use_each_other_one_way_only():
    """Between areas (their rules, not their models) the uses form no circle: if visits uses
    matching, matching does not use visits, directly or through a third area."""
    areas: dict[str, set[str]] = {area: set() for area in AREAS if area != "core"}
    for module, imports in _graph().items():
        source = _area(module)
        if source in (None, "core") or module.endswith(".models"):
            continue
        for name in imports:
            target = _area(name)
            if target not in (None, "core", source) and not name.endswith(".models"):
                areas[source].add(target)
    assert _cycles(areas) == [], areas


def test_an_area_uses_only_the_public_names_of_another():
    private = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("alliance."):
                if _area(node.module) == _area(module):
                    continue
                private += [
                    f"{module} imports {node.module}.{a.name}" for a in node.names if a.name.startswith("_")
                ]
    assert private == []


def test_the_walk_sees_deferred_imports():
    # Guard against a walk that reads only the top of each file: allocation imports claims inside a function.
    graph = _graph()
    deferred = [
        (module, name)
        for module, path in _modules().items()
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("alliance")
        for name in [node.module]
    ]
    assert deferred, "no deferred import found: the walk would not notice one"
    assert all(name in graph[module] for module, name in deferred)


_CACHE: dict[str, Path] = {}


def _modules_cache() -> dict[str, Path]:
    if not _CACHE:
        _CACHE.update(_modules())
    return _CACHE
