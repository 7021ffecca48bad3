"""The embedded demo provider: a real OAuth 2.0 authorization server built on
Authlib's server components, plus a small protected JSON API, both on 127.0.0.1.

Needs the ``demo`` extra: ``pip install 'nb_oauth[demo]'``.
"""

from __future__ import annotations

try:
    import authlib  # noqa: F401
    import flask  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the nb_oauth demo provider needs its extra: pip install 'nb_oauth[demo]'"
    ) from exc

from nb_oauth.errors import PortInUse

from .provider import DemoProvider
from .settings import DemoSettings
from .store import DemoClient

__all__ = ["DemoClient", "DemoProvider", "DemoSettings", "PortInUse"]
