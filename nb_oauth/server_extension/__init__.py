"""The Jupyter server extension ``nb_oauth``: the sign-in callback at
``<base_url>nb-oauth/callback``.

Enabled on install by ``jupyter-config/jupyter_server_config.d/nb_oauth.json`` (the server finds
the extension through ``nb_oauth._jupyter_server_extension_points``). Importing this package loads
nothing of Jupyter: the handler module, which needs ``jupyter_server`` (``pip install
nb_oauth[server]``), is imported when the server loads the extension. Never imports IPython or
ipywidgets: it runs in the Jupyter server, not in a kernel.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nb_oauth.server_extension"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Called by the Jupyter server at start-up: add the callback route behind its login."""
    from nb_oauth.server_extension.handlers import add_callback_route

    add_callback_route(serverapp)
