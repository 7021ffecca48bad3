"""Where datasources, client secrets and tokens live: the `TokenStore` seam (STYLE rule 14).

A store keeps, per datasource name, the non-secret `Datasource`, the client secret and the current
`TokenSet`. `MemoryStore` (in `nb_oauth.store.memory`) keeps them for the life of the process; the
keyring-backed store (config file plus OS keyring, SPEC section 1) implements the same protocol.

Contract for every implementation:

* `load_*` returns `None` for an unknown name; nothing raises for a missing entry.
* `delete_tokens` and `remove` are idempotent.
* Calls may come from several threads at once; each call is atomic.
* No method logs, prints or puts a secret into an exception message.
"""

from __future__ import annotations

from typing import Protocol

from nb_oauth.datasource import Datasource
from nb_oauth.secret import Secret
from nb_oauth.store.memory import MemoryStore
from nb_oauth.tokens import TokenSet

__all__ = ["MemoryStore", "TokenStore"]


class TokenStore(Protocol):
    """Storage for datasources, client secrets and token sets, keyed by datasource name."""

    def load_datasource(self, name: str) -> Datasource | None: ...

    def save_datasource(self, datasource: Datasource) -> None: ...

    def load_secret(self, name: str) -> Secret | None: ...

    def save_secret(self, name: str, secret: Secret) -> None: ...

    def load_tokens(self, name: str) -> TokenSet | None: ...

    def save_tokens(self, name: str, tokens: TokenSet) -> None: ...

    def delete_tokens(self, name: str) -> None: ...

    def remove(self, name: str) -> None:
        """Forget the datasource, its client secret and its tokens."""
        ...
