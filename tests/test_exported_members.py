"""The public API: what ``import nb_oauth`` really offers, checked on the module itself."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import nb_oauth

INIT = Path(nb_oauth.__file__)


def test_every_name_in_all_is_a_real_attribute_of_the_module() -> None:
    # A fresh interpreter: touch every exported name, then look at what the module holds.
    code = (
        "import nb_oauth\n"
        "for name in nb_oauth.__all__: getattr(nb_oauth, name)\n"
        "import types\n"
        "print(sorted(n for n, v in vars(nb_oauth).items() if not n.startswith('_') "
        "and not isinstance(v, types.ModuleType)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    public = set(ast.literal_eval(result.stdout))
    assert public == set(nb_oauth.__all__) - {"__version__"}
    assert nb_oauth.__all__ == sorted(nb_oauth.__all__, key=str.casefold)


def test_each_export_comes_from_the_module_the_table_names() -> None:
    for name, module in nb_oauth._EXPORTS.items():
        assert getattr(nb_oauth, name) is getattr(importlib.import_module(module), name)


def test_the_type_checkers_imports_name_exactly_the_exports() -> None:
    tree = ast.parse(INIT.read_text())
    (block,) = [
        node for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "_typing.TYPE_CHECKING"
    ]
    imported = {
        alias.name: node.module
        for node in block.body if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == nb_oauth._EXPORTS


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        nb_oauth.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("nb_oauth.no_such_name did not raise")
