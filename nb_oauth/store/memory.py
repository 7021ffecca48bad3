"""`MemoryStore`: a `TokenStore` that keeps everything in this process's memory.

Nothing is written anywhere, so nothing survives a kernel restart: the right store for tests,
scheduled runs that get a fresh client-credentials token anyway, and "session-only" use.
"""

from __future__ import annotations

import threading
from typing import NoReturn

from nb_oauth.datasource import Datasource
from nb_oauth.secret import Secret
from nb_oauth.tokens import TokenSet

__all__ = ["MemoryStore"]


class MemoryStore:
    """An in-memory `TokenStore`. Thread-safe; its `repr` lists datasource names only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._datasources: dict[str, Datasource] = {}
        self._secrets: dict[str, Secret] = {}
        self._tokens: dict[str, TokenSet] = {}

    def load_datasource(self, name: str) -> Datasource | None:
        with self._lock:
            return self._datasources.get(name)

    def save_datasource(self, datasource: Datasource) -> None:
        with self._lock:
            self._datasources[datasource.name] = datasource

    def load_secret(self, name: str) -> Secret | None:
        with self._lock:
            return self._secrets.get(name)

    def save_secret(self, name: str, secret: Secret) -> None:
        with self._lock:
            self._secrets[name] = secret

    def load_tokens(self, name: str) -> TokenSet | None:
        with self._lock:
            return self._tokens.get(name)

    def save_tokens(self, name: str, tokens: TokenSet) -> None:
        with self._lock:
            self._tokens[name] = tokens

    def delete_tokens(self, name: str) -> None:
        with self._lock:
            self._tokens.pop(name, None)

    def remove(self, name: str) -> None:
        with self._lock:
            self._datasources.pop(name, None)
            self._secrets.pop(name, None)
            self._tokens.pop(name, None)

    def __repr__(self) -> str:
        with self._lock:
            names = sorted(self._datasources.keys() | self._secrets.keys() | self._tokens.keys())
        return f"MemoryStore(datasources={names!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a MemoryStore holds secrets and cannot be pickled (SEC-41)")
