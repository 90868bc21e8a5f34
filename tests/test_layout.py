"""The code's shape: small modules and no import cycle between the folders of ``edgekd/``.

A folder is a subpackage of ``edgekd`` (``distill``, ``export`` ...) or a top-level module
(``edgekd/rundir.py``); imports inside functions count, imports under ``if TYPE_CHECKING:``
do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "edgekd"
MAX_LINES = 600


def _folder(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "edgekd" or len(parts) < 2:
        return None
    return parts[1]


def _own_folder(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[str]:
    out: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out.extend(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def folder_graph() -> dict[str, set[str]]:
    """folder -> the folders it imports from."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        if path == ROOT / "__init__.py":
            continue  # the lazy API table names modules as strings, it imports none
        src = _own_folder(path)
        edges = graph.setdefault(src, set())
        for module in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            dst = _folder(module)
            if (
                dst is not None
                and dst != src
                and ((ROOT / dst).is_dir() or (ROOT / f"{dst}.py").is_file())
            ):
                edges.add(dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one folder (Tarjan 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycle_between_folders():
    graph = folder_graph()
    found = cycles(graph)
    detail = [
        ", ".join(f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp)
        for comp in found
    ]
    assert not found, "folder-level import cycles: " + " | ".join(detail)


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_over_600_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_tests_mirror_the_package_folders():
    tests = Path(__file__).resolve().parent
    folders = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    missing = [f for f in folders if not (tests / f).is_dir()]
    assert not missing, f"tests/ has no folder for edgekd/{', edgekd/'.join(missing)}"
