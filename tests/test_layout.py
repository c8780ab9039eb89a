"""The package's layout, read from its own imports: subpackages by job, bottom-up, no import cycles, small files.

Every import statement of every module (module level or inside a function, ``TYPE_CHECKING`` blocks included) is
resolved to the module it loads. A subpackage may import only the root infrastructure (``checks``, ``cache``,
``paths``) and the subpackages *below* it in :data:`LAYERS`; the package face (``spectral_lib/__init__.py`` and
``__main__.py``) may import anything and nothing may import it. The test fails on an upward import, on a cycle
between modules, on a file over :data:`MAX_LINES` lines and on more than :data:`MAX_ROOT_MODULES` root modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "spectral_lib"
# bottom-up: each layer may import the ones before it
LAYERS = ("root", "nn", "data", "spectral", "explain", "training", "theory", "metrics", "experiments", "companion",
          "sweep", "tools")
ROOT_MODULES = {"checks", "cache", "paths"}
FACE = {"spectral_lib", "spectral_lib.__main__"}
MAX_LINES = 420
MAX_ROOT_MODULES = 6


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package modules an import statement of module ``importer`` loads (``from P import n``: ``P.n`` when that is
    a module, else ``P``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "spectral_lib"]
    if node.level:
        base = importer.split(".")
        if not _is_package(importer):
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        pkg = ".".join(base + ([node.module] if node.module else []))
    else:
        pkg = node.module or ""
    if pkg.split(".")[0] != "spectral_lib":
        return []
    targets = []
    for a in node.names:
        sub = f"{pkg}.{a.name}"
        targets.append(sub if sub in MODULES else pkg)
    return targets


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(t for t in _resolve(name, node) if t in MODULES and t != name)
        edges[name] = deps
    return edges


EDGES = _edges()


def _layer(module: str) -> str:
    parts = module.split(".")
    if module in FACE:
        return "face"
    if len(parts) == 2 and parts[1] in ROOT_MODULES:
        return "root"
    return parts[1]


def test_every_module_belongs_to_a_layer():
    unknown = sorted({_layer(m) for m in MODULES} - set(LAYERS) - {"face"})
    assert not unknown, f"modules outside the known layers {LAYERS}: {unknown} (add the subpackage to LAYERS)"


def test_no_upward_imports_and_nothing_imports_the_face():
    bad = []
    for m, deps in EDGES.items():
        if _layer(m) == "face":
            continue
        for d in deps:
            if _layer(d) == "face":
                bad.append(f"{m} imports the package face {d}")
            elif LAYERS.index(_layer(d)) > LAYERS.index(_layer(m)):
                bad.append(f"{m} ({_layer(m)}) imports {d} ({_layer(d)}), a layer above it")
    assert not bad, "\n".join(sorted(bad))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert not _cycles(EDGES), f"import cycles: {_cycles(EDGES)}"


def test_cycle_detection_finds_a_cycle():
    """The checker itself: a two-module cycle and a three-module cycle are found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_relative_imports_resolve_to_modules():
    """The resolver on known statements of the package (so that a broken resolver cannot pass the tests above)."""
    assert "spectral_lib.explain.core" in EDGES["spectral_lib.explain.methods"]
    assert "spectral_lib.checks" in EDGES["spectral_lib.explain.methods"]
    assert "spectral_lib.cache" in EDGES["spectral_lib.training.config"]  # `from .. import cache`
    assert "spectral_lib.training" in EDGES["spectral_lib.experiments.grids"]  # a package's face


@pytest.mark.parametrize("name", sorted(MODULES))
def test_file_size(name):
    n = len(MODULES[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[name].relative_to(PKG.parent)} has {n} lines (> {MAX_LINES}): split it by job"


def test_few_root_modules_and_documented_subpackages():
    root = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(root) <= MAX_ROOT_MODULES, f"root modules {root}: at most {MAX_ROOT_MODULES}"
    assert set(root) <= ROOT_MODULES, f"root modules {sorted(set(root) - ROOT_MODULES)} are not infrastructure"
    for sub in sorted(p.parent for p in PKG.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse((sub / "__init__.py").read_text())) or ""
        assert len(doc) > 80 and "import" in doc, f"{sub.name}/__init__.py must say what it holds and may import"
