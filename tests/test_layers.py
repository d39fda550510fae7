"""The layers of docs/architecture.md as code: the import-linter contracts in pyproject.toml, and the headless core
never importing Qt (napari-style import rule)."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import nervplayer

CORE = sorted(
    m.name
    for m in pkgutil.walk_packages(nervplayer.__path__, "nervplayer.")
    if not m.name.startswith("nervplayer.gui") and m.name != "nervplayer.__main__"
)


def test_core_modules_import_no_qt():
    assert "nervplayer.train.fit" in CORE and "nervplayer.cli.main" in CORE
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "from nervplayer.plugins import get_registry; get_registry()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_contracts_hold():
    importlinter = pytest.importorskip("importlinter.cli")
    repo = Path(__file__).resolve().parents[1]
    assert importlinter.lint_imports(config_filename=str(repo / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_import_graph() -> dict[str, set[str]]:
    """Module -> the nervplayer modules it imports when run: top-level and function-level imports, not those under
    ``if TYPE_CHECKING:``. ``from package import name`` counts as an import of ``package.name`` when that is a module.
    """
    root = Path(nervplayer.__file__).resolve().parents[1]
    files = {}
    for path in sorted((root / "nervplayer").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def known(name: str) -> str:
        while name not in files:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        todo: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
        while todo:
            node = todo.pop()
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                todo.extend(node.orelse)
                continue
            if isinstance(node, ast.Import):
                targets |= {known(a.name) for a in node.names if a.name.split(".")[0] == "nervplayer"}
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
                if source.split(".")[0] == "nervplayer":
                    names = (f"{source}.{a.name}" for a in node.names)
                    targets |= {name if name in files else known(source) for name in names}
            todo.extend(ast.iter_child_nodes(node))
        graph[module] = targets - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_sees_function_level_imports():
    graph = _runtime_import_graph()
    assert "nervplayer.model.nerv" in graph["nervplayer.model"]
    # cli.main imports the GUI inside main() (`nervplayer [FILE]`): an import in a function counts
    assert "nervplayer.gui.app" in graph["nervplayer.cli.main"]


def test_no_module_imports_one_that_imports_it_back_at_run_time():
    assert _cycles(_runtime_import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
