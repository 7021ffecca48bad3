"""`MemoryStore`: a `TokenStore` that keeps everything in this process's memory.

Nothing is written anywhere, so nothing survives a kernel restart: the right store for tests,
scheduled runs that get a fresh client-credentials token anyway, and session-only use
(security.md#secret-storage). Only one process sees it, so its renewal lock is a no-op: the auth's
own in-process lock already makes renewal single-flight (security.md#single-flight-renewal).
"""

from __future__ import annotations

import threading
from typing import NoReturn

from nb_oauth.datasource import Datasource
from nb_oauth.secret import Secret
from nb_oauth.tokens import TokenSet

__all__ = ["MemoryStore", "NoRenewalLock"]


class NoRenewalLock:
    """The renewal lock of a store that one process alone uses: always free."""

    def acquire(self, timeout: float) -> bool:
        return True

    def release(self) -> None:
        pass


class MemoryStore:
    """An in-memory `TokenStore`. Thread-safe; its `repr` lists datasource names only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._datasources: dict[str, Datasource] = {}
        self._secrets: dict[str, Secret] = {}
        self._tokens: dict[str, TokenSet] = {}

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._datasources)

    def load_datasource(self, name: str) -> Datasource | None:
        with self._lock:
            return self._datasources.get(name)

    def save_datasource(self, datasource: Datasource, *, session_only: bool = False) -> None:
        # Everything here is session-only already.
        with self._lock:
            self._datasources[datasource.name] = datasource

    def load_secret(self, name: str) -> Secret | None:
        with self._lock:
            return self._secrets.get(name)

    def check_writable(self, name: str) -> None:
        pass  # memory is always there

    def secret_location(self, name: str) -> str:
        """Where ``name``'s secrets are kept, in words for the user."""
        return "this kernel's memory"

    def save_secret(self, name: str, secret: Secret) -> None:
        with self._lock:
            self._secrets[name] = secret

    def delete_secret(self, name: str) -> None:
        with self._lock:
            self._secrets.pop(name, None)

    def load_tokens(self, name: str, *, fresh: bool = False) -> TokenSet | None:
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

    def renewal_lock(self, name: str) -> NoRenewalLock:
        return NoRenewalLock()

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._datasources or name in self._secrets or name in self._tokens

    def __repr__(self) -> str:
        with self._lock:
            names = sorted(self._datasources.keys() | self._secrets.keys() | self._tokens.keys())
        return f"MemoryStore(datasources={names!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a MemoryStore holds secrets and cannot be pickled")
