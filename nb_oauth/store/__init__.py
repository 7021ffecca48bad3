"""Where datasources, client secrets and tokens live: the `TokenStore` seam (STYLE rule 14).

A store keeps, per datasource name, the non-secret `Datasource`, the client secret and the current
`TokenSet`. Two implementations:

* `MemoryStore` (`nb_oauth.store.memory`): this process's memory only; "session-only" storage.
* `KeyringStore` (`nb_oauth.store.keyring_store`): the config file plus a secrets vault: the
  OS keyring, shared by every kernel of the user, or, where there is none, this kernel's memory
  or a private 0600 file (`nb_oauth.store.choice` picks; `nb_oauth.store.file_vault`). Imported
  lazily: it needs `keyring`, which the protocol core does not (STYLE rule 1).

Contract for every implementation:

* `load_*` returns `None` for an unknown name; nothing raises for a missing entry.
* `delete_tokens` and `remove` are idempotent.
* Calls may come from several threads at once; each call is atomic.
* Reads may be cached; `load_tokens(name, fresh=True)` bypasses the cache and reads what other
  processes may have written. The auth calls it only while it holds `renewal_lock(name)`.
* `renewal_lock(name)` serializes token renewal for `name` across every process that shares the
  store (security.md#single-flight-renewal). It is not reentrant; the caller releases it on every
  path (security.md#network-faults).
* `save_datasource(..., session_only=True)` keeps that datasource and all its secrets in this
  process's memory: nothing about it is written anywhere (security.md#secret-storage).
* No method logs, prints or puts a secret into an exception message.
"""

from __future__ import annotations

from typing import Protocol

from nb_oauth.datasource import Datasource
from nb_oauth.secret import Secret
from nb_oauth.store.memory import MemoryStore, NoRenewalLock
from nb_oauth.tokens import TokenSet

__all__ = ["MemoryStore", "NoRenewalLock", "RenewalLock", "TokenStore"]


class RenewalLock(Protocol):
    """A lock held around one token renewal of one datasource
    (security.md#single-flight-renewal)."""

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting at most `timeout` seconds (0: just try); `False` if not taken.

        May raise `StorageUnavailable` when the lock file cannot be created.
        """
        ...

    def release(self) -> None: ...


class TokenStore(Protocol):
    """Storage for datasources, client secrets and token sets, keyed by datasource name."""

    def names(self) -> list[str]:
        """The saved datasource names, sorted."""
        ...

    def load_datasource(self, name: str) -> Datasource | None: ...

    def save_datasource(self, datasource: Datasource, *, session_only: bool = False) -> None: ...

    def load_secret(self, name: str) -> Secret | None: ...

    def check_writable(self, name: str) -> None:
        """Raise what saving ``name`` would raise because of the store itself (a chosen store
        that may not be used here), so a user is told before typing a secret, not after."""
        ...

    def secret_location(self, name: str) -> str:
        """Where ``name``'s secrets are kept, in words for the user ("the system keyring")."""
        ...

    def save_secret(self, name: str, secret: Secret) -> None: ...

    def delete_secret(self, name: str) -> None: ...

    def load_tokens(self, name: str, *, fresh: bool = False) -> TokenSet | None: ...

    def save_tokens(self, name: str, tokens: TokenSet) -> None: ...

    def delete_tokens(self, name: str) -> None: ...

    def remove(self, name: str) -> None:
        """Forget the datasource, its client secret and its tokens."""
        ...

    def renewal_lock(self, name: str) -> RenewalLock: ...
