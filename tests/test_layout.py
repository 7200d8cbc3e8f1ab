"""The package's structure, read from its own source: no import cycles (imports inside functions count too),
cnnlab.data imports nothing above it, and no module is longer than MAX_LINES."""
import ast
import importlib
import warnings
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cnnlab"
MAX_LINES = 400  # a module longer than this holds more than one concern: split it (issue 24)


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, root.parent): p for p in sorted(root.rglob("*.py"))}


def imported(path: Path, known: dict[str, Path], src: Path = SRC) -> set[str]:
    """The cnnlab modules that `path` imports anywhere in its code (top level or inside functions): for
    `from X import a`, X.a when that is a module, else X; with the packages the import runs on the way."""
    name = module_name(path, src)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            origin = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
                prefix = ".".join(parts[:depth])
                if prefix in known and not name.startswith(prefix + ".") and prefix != name:
                    found.add(prefix)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imported(path, known, root.parent) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> b -> ... -> a) per strongly connected component with more than one module,
    or with a module importing itself (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(_path_within(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path_within(graph, component: set[str]) -> list[str]:
    """The shortest closed path from the component's first module back to itself, for the failure message."""
    start = min(component)
    previous, queue = {}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if w not in previous:
                previous[w] = v
                queue.append(w)
    return sorted(component)


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from . import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from . import a\n")
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    (pkg / "b.py").write_text("def f():\n    pass\n")
    assert cycles(import_graph(pkg)) == []


def test_cnnlab_has_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_data_package_imports_nothing_above_it():
    upward = {name: sorted(t for t in targets if not t.startswith("cnnlab.data") and t != "cnnlab.errors")
              for name, targets in import_graph().items() if name.startswith("cnnlab.data")}
    assert not {k: v for k, v in upward.items() if v}


def test_the_split_module_is_the_leaf_of_the_data_package():
    graph = import_graph()
    assert graph["cnnlab.data.split"] <= {"cnnlab.errors"}
    assert graph["cnnlab.data.checksum"] == set()
    assert graph["cnnlab.data.cifar"] <= {"cnnlab.errors", "cnnlab.data.split", "cnnlab.data.checksum"}


def test_no_module_of_cnnlab_is_named_like_a_public_function_it_would_hide():
    """Importing cnnlab.X sets the package's attribute X to the module: a module named like a lazily exported
    function (cnnlab.resume, cnnlab.train) would replace that function for everyone once anything imports it."""
    import cnnlab

    names = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert not names & set(cnnlab._EXPORTS)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_is_over_the_line_limit(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)}: {lines} lines, more than {MAX_LINES}: split it by concern"


@pytest.mark.parametrize("old", ["cifar", "folder"])
def test_a_moved_module_still_works_under_its_old_name_with_a_deprecation_warning(old):
    import cnnlab

    with pytest.warns(DeprecationWarning, match=f"cnnlab.{old} moved to cnnlab.data.{old}"):
        module = getattr(cnnlab, old)
    assert module is importlib.import_module(f"cnnlab.data.{old}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(f"from cnnlab.data import {old}")


def test_every_relative_import_in_cnnlab_names_a_module_that_exists():
    """An import inside a function runs only when that function does: one left pointing at a moved module
    (`from .folder import ...` after folder.py went into data/) fails only on the path that reaches it."""
    known = modules()
    missing = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
                if origin not in known:
                    missing.append(f"{path.relative_to(SRC)}:{node.lineno}: {origin}")
    assert not missing, missing
