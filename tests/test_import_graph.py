"""How nb_oauth's modules import each other: no cycles, and the layers point one way
(docs/architecture.md). Imports inside functions count; imports only for type checkers do not,
and neither do a package ``__init__``'s re-exports."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nb_oauth"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path) -> set[str]:
    """The nb_oauth modules ``name`` imports, wherever in the file, resolved to modules."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {module for module in found if module in MODULES and module != name}


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        edges = _imports(name, path)
        if path.name == "__init__.py":
            # A package's own re-exports are not a dependency of the package on itself.
            edges = {edge for edge in edges if not edge.startswith(name + ".")}
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return cycles


def test_the_graph_is_read_whole() -> None:
    graph = _graph()
    assert "nb_oauth.jupyter.magics" in graph["nb_oauth.jupyter.api_magic"] or (
        "nb_oauth.jupyter.api_magic" in graph["nb_oauth.jupyter.magics"]
    )  # a function-level import is seen
    assert "nb_oauth.errors" in graph["nb_oauth.datasource"]


def test_no_import_cycle_inside_nb_oauth() -> None:
    assert _cycles(_graph()) == []


#: The front: what users call. The module-level calls may pick the notebook's consent view when
#: they run in a kernel, so they alone may reach into the notebook layer (lazily).
FRONT = ("nb_oauth", "nb_oauth.process_session", "nb_oauth.cli", "nb_oauth.__main__")


def test_the_protocol_core_never_imports_the_front_or_the_notebook_layer() -> None:
    graph = _graph()
    for name, edges in graph.items():
        if name in FRONT or name.startswith(
            ("nb_oauth.jupyter", "nb_oauth.demo", "nb_oauth.server_extension")
        ):
            continue
        above = ("nb_oauth.jupyter", "nb_oauth.demo", "nb_oauth.server_extension")
        upward = [edge for edge in edges if edge in FRONT or edge.startswith(above)]
        assert not upward, name


def test_the_server_extension_reaches_neither_the_front_nor_the_notebook_layer() -> None:
    # It runs in the Jupyter server process, which has no kernel and no notebook.
    graph = _graph()
    for name, edges in graph.items():
        if not name.startswith("nb_oauth.server_extension"):
            continue
        above = ("nb_oauth.jupyter", "nb_oauth.demo")
        wrong = [e for e in edges if e in FRONT or e.startswith(above)]
        assert not wrong, name
