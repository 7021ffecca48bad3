"""The protocol core imports without IPython, ipywidgets and keyring (STYLE rule 1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Everything but the Jupyter face (nb_oauth.jupyter), the keyring adapter
# (nb_oauth.store.keyring_store, nb_oauth.store.backends) and the demo provider.
CORE_MODULES = [
    "nb_oauth",
    "nb_oauth._httpx",
    "nb_oauth.api",
    "nb_oauth.bearer",
    "nb_oauth.cell",
    "nb_oauth.consent",
    "nb_oauth.consent.console",
    "nb_oauth.consent.flow",
    "nb_oauth.datasource",
    "nb_oauth.errors",
    "nb_oauth.grants.client_auth",
    "nb_oauth.grants.metadata",
    "nb_oauth.grants.pkce",
    "nb_oauth.grants.token_requests",
    "nb_oauth.keeper",
    "nb_oauth.logs",
    "nb_oauth.oauth2_auth",
    "nb_oauth.redact",
    "nb_oauth.secret",
    "nb_oauth.session",
    "nb_oauth.store",
    "nb_oauth.store.config_file",
    "nb_oauth.store.lock",
    "nb_oauth.store.memory",
    "nb_oauth.tokens",
]


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
