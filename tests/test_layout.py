"""The shape of the code (issue 17): one-way dependencies, no import cycle, no module too long, no private
helper imported across modules, every import resolvable. Read from the source with ast, nothing imported."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "nodes", "topo", "models", "traces")
MAX_LINES = 330
LAYERS = {  # inside harness: a package may import only the ones listed (and itself, errors, repo_paths)
    "cli": {"experiments", "orchestration", "analysis"},
    "experiments": {"orchestration", "analysis"},
    "orchestration": set(),
    "analysis": set(),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def _imports(name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) of every import in module ``name``, absolute."""
    path = MODULES[name]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found.append((base, [a.name for a in node.names], node.lineno))
    return found


def _project_target(module: str, names: list[str]) -> list[str]:
    """The project modules an import loads: ``from harness.x import y`` is harness.x.y when that is a module."""
    targets = [module] if module in MODULES else []
    targets += [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
    return targets


GRAPH = {m: sorted({t for mod, names, _ in _imports(m) for t in _project_target(mod, names) if t != m})
         for m in MODULES}


def test_the_modules_are_found():
    assert "harness.cli.main" in MODULES and "nodes.launch" in MODULES and len(MODULES) > 100


def test_no_import_cycle():
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for dep in GRAPH[module]:
            if dep.rsplit(".", 1)[0] == module or module.startswith(dep + "."):
                continue  # a package and its own modules
            assert state.get(dep) != 1, f"import cycle: {' -> '.join([*trail, module, dep])}"
            if dep not in state:
                visit(dep, [*trail, module])
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize("package", ["nodes", "topo", "models", "traces"])
def test_nothing_imports_the_harness(package):
    bad = [f"{m}:{line} imports {mod}" for m in MODULES if m.split(".")[0] == package
           for mod, _, line in _imports(m) if mod == "harness" or mod.startswith("harness.")]
    assert not bad, bad


def test_the_harness_packages_depend_one_way():
    bad = []
    for m in MODULES:
        parts = m.split(".")
        if parts[0] != "harness" or len(parts) < 3 or parts[1] not in LAYERS:
            continue
        for mod, names, line in _imports(m):
            for target in _project_target(mod, names) or [mod]:
                tparts = target.split(".")
                if tparts[0] == "harness" and len(tparts) > 1 and tparts[1] in LAYERS and tparts[1] != parts[1] \
                        and tparts[1] not in LAYERS[parts[1]]:
                    bad.append(f"{m}:{line} imports {target}")
    assert not bad, bad


def test_no_module_is_too_long():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_private_name_is_imported_across_modules():
    bad = [f"{m}:{line} takes {n} from {mod}" for m in MODULES for mod, names, line in _imports(m)
           if mod.split(".")[0] in PACKAGES for n in names if n.startswith("_") and n != "__version__"]
    assert not bad, bad


def test_every_project_import_resolves():
    """A moved module leaves no import of its old path behind (lazy imports inside functions included)."""
    bad = []
    for m in MODULES:
        for mod, names, line in _imports(m):
            if mod.split(".")[0] not in PACKAGES:
                continue
            if mod not in MODULES:
                bad.append(f"{m}:{line}: no module {mod}")
                continue
            if MODULES[mod].name == "__init__.py":
                continue
            defined = _top_level_names(mod)
            bad += [f"{m}:{line}: {mod} has no {n}" for n in names
                    if n != "*" and n not in defined and f"{mod}.{n}" not in MODULES]
    assert not bad, bad


def _top_level_names(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names
