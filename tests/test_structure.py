"""The package's import structure: no circles.

What counts as an import of module B by module A (an edge A -> B), read from the source with `ast`:
- every `import newsbench...` and `from newsbench... import ...` in A, at module level or inside a function: an
  import deferred into a function is still a dependency, and one deferred only so that a circle does not fail at
  start-up is still a circle;
- `from P import name` is an import of P.name when that is a module, else of the package P;
- importing P.Q also runs P's __init__: an edge to each package above it, unless that package contains A itself
  (a package's own modules import their siblings while the package is being set up);
- imports under `if TYPE_CHECKING:` do not count (they never run).

A circle is a strongly connected set of two or more modules. There is none, counting every import above: a module that
needs another's code, lazily or not, lives below it, so each module can be read and tested with its dependencies only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "newsbench"

def modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _resolve(name: str, mods) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _parents(name: str, mods) -> list[str]:
    out, p = [], name.rpartition(".")[0]
    while p:
        if p in mods:
            out.append(p)
        p = p.rpartition(".")[0]
    return out


def imports(module_level_only: bool = False) -> dict[str, set[str]]:
    """{module: modules it imports} over the package, as the docstring counts them."""
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        is_pkg = path.name == "__init__.py"
        own = {m, *_parents(m, mods)} if is_pkg else {*_parents(m, mods)}

        def add(target: str | None) -> None:
            if target and target != m and target.startswith("newsbench"):
                graph[m].add(target)
                graph[m].update(p for p in _parents(target, mods) if p not in own)

        def visit(node, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if not (inner and module_level_only):
                    if isinstance(child, ast.Import):
                        for alias in child.names:
                            add(_resolve(alias.name, mods))
                    elif isinstance(child, ast.ImportFrom):
                        base = child.module or ""
                        if child.level:
                            pkg = m if is_pkg else m.rpartition(".")[0]
                            for _ in range(child.level - 1):
                                pkg = pkg.rpartition(".")[0]
                            base = f"{pkg}.{base}" if base else pkg
                        for alias in child.names:
                            add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else _resolve(base, mods))
                visit(child, inner)

        visit(ast.parse(path.read_text()), False)
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected sets of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def edges_within(graph: dict[str, set[str]], comps: list[set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for comp in comps for a in comp for b in graph[a] if b in comp}


def test_no_circle_of_module_level_imports():
    found = circles(imports(module_level_only=True))
    assert found == [], f"module-level import circles: {[sorted(c) for c in found]}"


def test_no_circle_at_all():
    graph = imports()
    found = circles(graph)
    assert found == [], f"import circles (function-level imports included): {sorted(edges_within(graph, found))}"


def test_the_named_circles_are_gone():
    # issue 22's three, and the text encoder <-> inputs pair: neither direction's module reaches the other back
    graph = imports()

    def reaches(a: str, b: str) -> bool:
        seen, todo = set(), [a]
        while todo:
            v = todo.pop()
            if v == b:
                return True
            if v not in seen:
                seen.add(v)
                todo.extend(graph[v])
        return False

    for a, b in (("newsbench.attribution", "newsbench.train"), ("newsbench.cli.common", "newsbench.cli.data"),
                 ("newsbench.config", "newsbench.options"), ("newsbench.features.text", "newsbench.inputs")):
        assert not (reaches(a, b) and reaches(b, a)), (a, b)


def test_the_counting_sees_function_level_and_package_imports(tmp_path, monkeypatch):
    # the rules of the docstring on a package of three modules: a lazy import closes a circle, and importing a
    # package's submodule runs (and so depends on) the package
    pkg = tmp_path / "newsbench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from newsbench import b\n")
    (pkg / "b.py").write_text("def f():\n    from newsbench.sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("from newsbench.sub import c\n")
    (pkg / "sub" / "c.py").write_text("import newsbench.a\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert circles(imports(module_level_only=True)) == []
    graph = imports()
    assert graph["newsbench.b"] == {"newsbench.sub.c", "newsbench.sub"}
    assert graph["newsbench.sub"] == {"newsbench.sub.c"}          # a package's own submodule: no edge back up
    assert circles(graph) == [{"newsbench.a", "newsbench.b", "newsbench.sub", "newsbench.sub.c"}]
