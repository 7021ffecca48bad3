"""The protocol core imports without IPython, ipywidgets and keyring (STYLE rule 1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Everything but the Jupyter face (nb_oauth.jupyter), the keyring adapter
#: (nb_oauth.store.keyring_store, nb_oauth.store.backends), the demo provider, the CLI and the
#: Jupyter server extension's handler (it runs in the server, on jupyter_server): found
#: on disk, so a new module is covered without anyone remembering to list it.
NOT_CORE = (
    "nb_oauth.jupyter", "nb_oauth.demo", "nb_oauth.store.keyring_store", "nb_oauth.store.backends",
    "nb_oauth.cli", "nb_oauth.__main__", "nb_oauth.server_extension.handlers",
)
CORE_MODULES = sorted(
    name
    for name in (
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "nb_oauth").rglob("*.py")
    )
    if not name.startswith(NOT_CORE)
)


def test_the_core_list_is_found_on_disk() -> None:
    assert {"nb_oauth", "nb_oauth.token_http", "nb_oauth.consent.flow"} <= set(CORE_MODULES)
    assert "nb_oauth.jupyter.magics" not in CORE_MODULES


def test_core_imports_without_ipython_ipywidgets_and_keyring() -> None:
    # Setting a module to None in sys.modules makes importing it raise ImportError.
    code = textwrap.dedent(
        f"""
        import sys
        for name in ("IPython", "ipywidgets", "keyring", "traitlets"):
            sys.modules[name] = None
        import importlib
        for module in {CORE_MODULES!r}:
            importlib.import_module(module)
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_importing_nb_oauth_loads_no_jupyter_or_server_modules() -> None:
    code = textwrap.dedent(
        """
        import sys
        import nb_oauth
        heavy = ("IPython", "ipywidgets", "keyring", "flask", "authlib")
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_server_extension_loads_without_ipython_and_ipywidgets() -> None:
    # It runs in the Jupyter server, where no kernel's libraries belong.
    code = textwrap.dedent(
        """
        import sys
        for name in ("IPython", "ipywidgets", "keyring"):
            sys.modules[name] = None
        import nb_oauth
        (point,) = nb_oauth._jupyter_server_extension_points()
        import importlib
        importlib.import_module(point["module"])
        import nb_oauth.server_extension.handlers
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
