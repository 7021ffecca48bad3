"""`KeyringStore`: the config file for settings, a secrets vault for secrets.

Layout, per datasource `<name>`:

* its non-secret fields in `<NB_OAUTH_HOME>/datasources.json` (`nb_oauth.store.config_file`),
  whichever store keeps the secrets, so a kernel restart never makes a datasource unknown;
* its secrets in the vault the switch chose (`nb_oauth.store.choice`): a keyring backend, this
  kernel's memory, or the private file (`nb_oauth.store.file_vault`). Each vault has keyring's
  shape: service `nb_oauth:<name>` (security.md#secret-storage), two entries with non-empty
  usernames: `client_secret` (the bare secret) and `token_set` (`TokenSet.to_secret_json()`:
  versioned JSON with the refresh token, the access token, its expiry and the granted scopes). The
  access token is shared so that kernels sharing a datasource refresh once per expiry, not once
  each;
* its renewal lock in `<NB_OAUTH_HOME>/locks/<name>.lock` (`nb_oauth.store.lock`,
  security.md#single-flight-renewal), the same for every vault.

Reads are cached in memory, so steady-state requests never touch the vault (the auth does not
even call the store while its token is fresh). `load_tokens(name, fresh=True)` bypasses the cache;
the auth calls it only while holding `renewal_lock(name)`, which is exactly when another kernel
may have renewed. Writes go to the vault first and update the cache only once they succeeded, so
a failed write leaves the previous state in both (security.md#secret-storage); each secret is one
entry, so a write is never half done.

Too large (security.md#secret-storage): before writing, a value is checked against the backend's
known limit (Windows: 2560 bytes), and a backend error for a value above 2560 bytes is reported as
`SecretTooLargeForBackend`. A token set that does not fit is stored without its access token
(the entry then holds an empty, long-expired one); the access token stays in this kernel's memory
and the user is told once with `StorageWarning`. Other kernels then refresh for themselves.

Which vault (security.md#secret-storage, `nb_oauth.store.backends`), decided on the first use, i.e.
at configure time: the store the switch names; with none named, the keyring when its backend is
usable, else this kernel's memory, said once in one line. In a new kernel that keeps secrets in
memory, that line names the datasources earlier kernels saved, which are signed out now, and what
to run. `use_store` switches at run time, copying this kernel's secrets to the new vault.

Session-only (security.md#secret-storage): `save_datasource(ds, session_only=True)` keeps that
datasource, its secret and its tokens in a `MemoryStore` inside this store: no config entry, no
vault entry, no lock file. A name cannot be both: a name saved on disk must be removed before it
is saved session-only.

Keyring errors (`keyring.errors.KeyringError`: a locked keyring, a D-Bus failure) become
`StorageUnavailable` with a fix; deleting a missing entry is success (STYLE rule 12). Nothing here
logs, and no message carries a secret.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Union

import keyring
import keyring.backend
import keyring.errors

from nb_oauth.datasource import Datasource
from nb_oauth.errors import (
    ConfigError,
    NbOAuthError,
    NbOAuthWarning,
    SecretTooLargeForBackend,
    StorageUnavailable,
    StorageWarning,
)
from nb_oauth.secret import Secret
from nb_oauth.store.backends import (
    PERSIST,
    SMALLEST_LIMIT,
    backend_name,
    check_backend,
    fallback_notice,
    fallback_reason,
    kind_of,
    secret_size,
    writer_of,
)
from nb_oauth.store.choice import (
    ENV_STORE,
    StoreName,
    check_name,
    chosen_store,
    record_choice,
)
from nb_oauth.store.config_file import ConfigFile, default_home
from nb_oauth.store.file_vault import FileVault, secrets_path
from nb_oauth.store.lock import FileRenewalLock, lock_path
from nb_oauth.store.memory import MemoryStore, NoRenewalLock
from nb_oauth.tokens import TokenSet

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = ["KeyringStore", "SECRET_USER", "TOKENS_USER", "service_name", "signed_out_line"]

SECRET_USER = "client_secret"
TOKENS_USER = "token_set"
_ENV_PLAINTEXT = "NB_OAUTH_ALLOW_PLAINTEXT"


#: Where the secrets of datasources saved on disk go: a keyring backend (also the kernel-memory
#: one) or the private file.
_Vault = Union[keyring.backend.KeyringBackend, FileVault]


def service_name(name: str) -> str:
    """The keyring service of datasource `name` (security.md#secret-storage)."""
    return f"nb_oauth:{name}"


class _DiskStore:
    """Datasources saved on disk: settings in the config file in `home`, secrets in a vault (a
    keyring backend, this kernel's memory or the private file), renewals serialized by a lock
    file. `KeyringStore` (below) documents the arguments and puts the session-only datasources
    beside these.
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        backend: KeyringBackend | None = None,
        allow_plaintext: bool | None = None,
        store: StoreName | None = None,
    ) -> None:
        self.home = default_home() if home is None else Path(home)
        if allow_plaintext is None:
            allow_plaintext = os.environ.get(_ENV_PLAINTEXT, "").strip() == "1"
        self._allow_plaintext = allow_plaintext
        self._config = ConfigFile(self.home)
        self._chosen = backend
        self._store = store
        self._backend: _Vault | None = None
        #: Which store the vault is, and why (for `%datasource storage` without an argument).
        self.store: StoreName | None = None
        self.origin = ""
        self._lock = threading.RLock()
        self._secrets: dict[str, Secret | None] = {}
        self._tokens: dict[str, TokenSet | None] = {}
        self._unshared: dict[str, TokenSet] = {}  # token sets whose access token is memory-only
        self._told: set[str] = set()
        self._saved_here: set[str] = set()  # names whose secrets this process wrote

    # --- datasources ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._config.load())

    def load_datasource(self, name: str) -> Datasource | None:
        return self._config.load().get(name)

    def save_datasource(self, datasource: Datasource, *, session_only: bool = False) -> None:
        """Save `datasource`; raises `ConfigFileError`, `StorageUnavailable` and
        `NoSecureStorage` (the backend policy is checked first, so a refused backend leaves no
        config entry)."""
        name = datasource.name
        self.backend()  # security.md#secret-storage: configure time
        self._config.update(lambda datasources: datasources.__setitem__(name, datasource))

    def remove(self, name: str) -> None:
        """Delete exactly `name`'s keyring entries, then its config entry
        (security.md#secret-storage). Idempotent."""
        with self._lock:
            if name in self._config.load():
                self._delete(name, SECRET_USER)
                self._delete(name, TOKENS_USER)
            self._secrets.pop(name, None)
            self._tokens.pop(name, None)
            self._unshared.pop(name, None)
        self._config.update(lambda datasources: datasources.pop(name, None))

    def renewal_lock(self, name: str) -> FileRenewalLock:
        return FileRenewalLock(lock_path(self.home, name))

    # --- the client secret ------------------------------------------------------------------------

    def check_writable(self, name: str) -> None:
        """Raise `NoSecureStorage` now if the chosen store may not be used; the first call tells
        (once, in one line) when secrets stay in kernel memory."""
        self.backend()  # security.md#secret-storage

    def secret_location(self, name: str) -> str:
        """Where ``name``'s secrets are kept, in words for the user."""
        return self.where()

    def load_secret(self, name: str) -> Secret | None:
        with self._lock:
            if name not in self._secrets:
                value = self._get(name, SECRET_USER)
                self._secrets[name] = None if value is None else Secret(value)
            return self._secrets[name]

    def save_secret(self, name: str, secret: Secret) -> None:
        with self._lock:
            self._set(name, SECRET_USER, secret.reveal())
            self._secrets[name] = secret
            self._saved_here.add(name)

    def delete_secret(self, name: str) -> None:
        with self._lock:
            self._delete(name, SECRET_USER)
            self._secrets[name] = None

    # --- tokens -----------------------------------------------------------------------------------

    def load_tokens(self, name: str, *, fresh: bool = False) -> TokenSet | None:
        with self._lock:
            if fresh or name not in self._tokens:
                self._tokens[name] = self._read_tokens(name)
            return self._tokens[name]

    def _read_tokens(self, name: str) -> TokenSet | None:
        value = self._get(name, TOKENS_USER)
        if value is None:
            self._unshared.pop(name, None)
            return None
        try:
            stored = TokenSet.from_secret_json(value)
        except ValueError as exc:
            raise StorageUnavailable(
                f"the stored tokens of {name!r} cannot be read ({exc})",
                f"run nb_oauth.connect({name!r}) to replace them",
            ) from None
        unshared = self._unshared.get(name)
        if stored.access_token:
            self._unshared.pop(name, None)
            return stored
        if unshared is not None and unshared.refresh_token == stored.refresh_token:
            return unshared  # our own access token, too large for the keyring
        return stored  # stored without its access token, and long expired: renew

    def save_tokens(self, name: str, tokens: TokenSet) -> None:
        """Store `tokens` (security.md#refresh-token-rotation: before the caller uses them). Raises
        `StorageUnavailable` or
        `SecretTooLargeForBackend`, and then leaves the keyring and the cache as they were."""
        with self._lock:
            try:
                self._set(name, TOKENS_USER, tokens.to_secret_json().reveal())
                self._unshared.pop(name, None)
            except SecretTooLargeForBackend:
                # security.md#secret-storage: keep the refresh token in the keyring and the access
                # token here.
                without = dataclasses.replace(
                    tokens, access_token=Secret(""), expires_at=0.0, obtained_at=0.0
                )
                self._set(name, TOKENS_USER, without.to_secret_json().reveal())
                self._unshared[name] = tokens
                self._tell_once(name)
            self._tokens[name] = tokens
            self._saved_here.add(name)

    def delete_tokens(self, name: str) -> None:
        with self._lock:
            self._delete(name, TOKENS_USER)
            self._tokens[name] = None
            self._unshared.pop(name, None)

    # --- the vault --------------------------------------------------------------------------------

    def backend(self) -> _Vault:
        """Where secrets go, chosen on first use (security.md#secret-storage): the store named by
        the switch (`nb_oauth.store.choice`), else the keyring when it has a secure backend,
        else this kernel's memory.

        Raises `NoSecureStorage` when the chosen store may not be used (a `keyring` choice without
        a usable keyring, a `file` store that others can read); the memory fallback, a null or an
        allowed plaintext backend are told once with a one-line warning.
        """
        with self._lock:
            if self._backend is None:
                choice = self._store
                origin = "given to KeyringStore"
                if choice is None:
                    choice, where = chosen_store(self.home)
                    origin = _origin(where)
                vault, store, notice = self._open(choice)
                self._backend, self.store = vault, store
                if choice is None:
                    origin = "nothing chosen: the default" if store == "keyring" else (
                        f"nothing chosen, and {fallback_reason(self._keyring())}"
                    )
                self.origin = origin
                if store == "memory":
                    notice = self._signed_out_notice(choice) or notice
                if notice is not None:
                    warnings.warn(notice, StorageWarning, stacklevel=4)
            return self._backend

    def _open(self, choice: StoreName | None) -> tuple[_Vault, StoreName, str | None]:
        """The vault of `choice` (`None`: keyring, else memory), its store and the notice to
        give. Raises `NoSecureStorage`; writes nothing."""
        if choice == "memory":
            return KernelMemoryKeyring(), "memory", None
        if choice == "file":
            vault = FileVault(self.home)
            vault.check()
            return vault, "file", None
        backend = self._keyring()
        kind = kind_of(backend)
        usable = kind == "secure" or (kind == "plaintext" and self._allow_plaintext)
        if choice is None and not usable:
            return KernelMemoryKeyring(), "memory", fallback_notice(backend)
        # An explicit keyring choice, or a usable keyring: the policy decides (refuse or warn).
        check_backend(backend, allow_plaintext=self._allow_plaintext)
        if kind == "null":
            # It stores nothing; what the warning promised (kernel memory) is kept here
            # instead, so a datasource that shows as connected answers calls.
            return KernelMemoryKeyring(), "memory", None
        return backend, "keyring", None

    def _keyring(self) -> KeyringBackend:
        return self._chosen if self._chosen is not None else keyring.get_keyring()

    def _signed_out_notice(self, choice: StoreName | None) -> str | None:
        # A new kernel keeps secrets in memory: the datasources saved by earlier kernels have
        # none here (security.md#secret-storage), so say which need a new sign-in, and how.
        try:
            saved = self._config.load()
        except NbOAuthError:
            return None
        names = [name for name in sorted(saved) if name not in self._saved_here]
        if not names:
            return None
        if choice == "memory":
            why = "the memory store was chosen"
        else:  # nothing chosen, or keyring's null backend (disabled)
            why = fallback_reason(self._keyring())
        return signed_out_line([saved[name] for name in names], why=why)

    def use(self, choice: StoreName) -> list[str]:
        """Keep secrets in `choice` from now on, copying this process's client secrets and tokens
        there; returns the names copied. Raises `NoSecureStorage` (and changes nothing) when
        `choice` may not be used, and what a write raises (then the switch did not happen). The
        previous store keeps what it held: nothing is deleted."""
        with self._lock:
            vault, store, _ = self._open(choice)  # an explicit choice never falls back
            if self._backend is None:
                # Not used yet in this kernel: the secrets to copy are in what it would have used.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", NbOAuthWarning)
                    try:
                        self.backend()
                    except NbOAuthError:
                        pass
            copied: list[str] = []
            if self._backend is not None and vault is not self._backend:
                for name in sorted(self._config.load()):
                    secret, tokens = self._readable(name)
                    # What this kernel holds is what the user has now: it wins over older
                    # entries of the new store.
                    if secret is not None:
                        self._set(name, SECRET_USER, secret.reveal(), backend=vault)
                    if tokens is not None:
                        self._set(name, TOKENS_USER, tokens.to_secret_json().reveal(),
                                  backend=vault)
                    if secret is not None or tokens is not None:
                        copied.append(name)
            self._backend, self.store, self.origin = vault, store, "chosen in this kernel"
            self._secrets.clear()
            self._tokens.clear()
            self._unshared.clear()
            return copied

    def where(self) -> str:
        """Where secrets are kept now, in words (for messages)."""
        backend = self.backend()
        if isinstance(backend, KernelMemoryKeyring):
            return "this kernel's memory"
        if isinstance(backend, FileVault):
            return f"the private file {backend.path}"
        if kind_of(backend) == "plaintext":
            return "the keyring's plain-text file"
        writer = backend_name(writer_of(backend))
        if writer.startswith("keyrings."):
            # keyrings.cryptfile, keyrings.alt's EncryptedKeyring: a password-protected file.
            return f"the keyring's encrypted file ({writer})"
        return "the system keyring"

    def _readable(self, name: str) -> tuple[Secret | None, TokenSet | None]:
        """`name`'s secret and tokens from the current vault, `None` where it cannot read."""
        try:
            return self.load_secret(name), self.load_tokens(name)
        except StorageUnavailable:
            return None, None

    def _get(self, name: str, user: str) -> str | None:
        backend = self.backend()
        try:
            return backend.get_password(service_name(name), user)
        except keyring.errors.KeyringError as exc:
            _unavailable(exc, "read", name)

    def _set(self, name: str, user: str, value: str, *, backend: _Vault | None = None) -> None:
        backend = self.backend() if backend is None else backend
        size, limit = secret_size(backend, value)
        if limit is not None and size > limit:
            raise SecretTooLargeForBackend(backend=backend_name(backend), size=size, limit=limit)
        try:
            backend.set_password(service_name(name), user, value)
        except keyring.errors.KeyringError as exc:
            if size > SMALLEST_LIMIT and not isinstance(exc, keyring.errors.KeyringLocked):
                # Windows says "The stub received bad data" (jaraco/keyring#355).
                raise SecretTooLargeForBackend(
                    backend=backend_name(backend), size=size, limit=SMALLEST_LIMIT
                ) from None
            _unavailable(exc, "write", name)

    def _delete(self, name: str, user: str) -> None:
        backend = self.backend()
        try:
            backend.delete_password(service_name(name), user)
        except keyring.errors.PasswordDeleteError:
            pass  # already gone: deleting is idempotent (STYLE rule 12)
        except keyring.errors.KeyringError as exc:
            _unavailable(exc, "delete", name)

    def _tell_once(self, name: str) -> None:
        if name in self._told or kind_of(self.backend()) == "null":
            return
        self._told.add(name)
        warnings.warn(
            f"The access token of {name!r} is too large for the keyring backend, so it stays in "
            "this kernel's memory; the refresh token is stored. Other kernels using "
            f"{name!r} will refresh for themselves",
            StorageWarning,
            stacklevel=5,
        )

    def __repr__(self) -> str:
        return f"_DiskStore(home={str(self.home)!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a store that caches secrets cannot be pickled")


class KeyringStore:
    """A `TokenStore` over the config file in `home` and a keyring backend, with session-only
    datasources beside them in memory.

    `home` defaults to `NB_OAUTH_HOME`, else the platform's user config directory. `store` says
    where secrets go (`"keyring"`, `"memory"` or `"file"`); by default the switch decides
    (`NB_OAUTH_STORE`, else the last `use_store` recorded in `home`, else the keyring when it is
    usable and this kernel's memory when not: `nb_oauth.store.choice`). `backend` defaults to
    keyring's active backend (`keyring.get_keyring()`, chosen by keyring's own configuration).
    `allow_plaintext` defaults to the `NB_OAUTH_ALLOW_PLAINTEXT=1` environment variable.
    Thread-safe; its `repr` shows the home directory only.

    Every call about one datasource goes to the one store that holds it: the `MemoryStore` of
    session-only datasources, or the disk store (config file, secrets vault, lock file).
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        backend: KeyringBackend | None = None,
        allow_plaintext: bool | None = None,
        store: StoreName | None = None,
    ) -> None:
        self._disk = _DiskStore(
            home, backend=backend, allow_plaintext=allow_plaintext, store=store
        )
        self._session_only = MemoryStore()
        self.home = self._disk.home

    def _holder(self, name: str) -> _DiskStore | MemoryStore:
        return self._session_only if name in self._session_only else self._disk

    def names(self) -> list[str]:
        return sorted({*self._disk.names(), *self._session_only.names()})

    def load_datasource(self, name: str) -> Datasource | None:
        return self._holder(name).load_datasource(name)

    def save_datasource(self, datasource: Datasource, *, session_only: bool = False) -> None:
        """Save `datasource` on disk, or in memory with `session_only=True`. Raises what the disk
        store raises, and `ConfigError` when the name is already saved the other way."""
        name = datasource.name
        holder = self._holder(name)
        if session_only and holder is self._disk and self._disk.load_datasource(name):
            _refuse_switch(name, "is saved on disk", "remove it first, or pick another name")
        if not session_only and holder is self._session_only:
            _refuse_switch(name, "is saved for this session only", "remove it first")
        (self._session_only if session_only else self._disk).save_datasource(datasource)

    def remove(self, name: str) -> None:
        """Forget `name` wherever it is kept (security.md#secret-storage). Idempotent."""
        self._holder(name).remove(name)

    def renewal_lock(self, name: str) -> FileRenewalLock | NoRenewalLock:
        return self._holder(name).renewal_lock(name)

    def check_writable(self, name: str) -> None:
        self._holder(name).check_writable(name)

    def secret_location(self, name: str) -> str:
        return self._holder(name).secret_location(name)

    def load_secret(self, name: str) -> Secret | None:
        return self._holder(name).load_secret(name)

    def save_secret(self, name: str, secret: Secret) -> None:
        self._holder(name).save_secret(name, secret)

    def delete_secret(self, name: str) -> None:
        self._holder(name).delete_secret(name)

    def load_tokens(self, name: str, *, fresh: bool = False) -> TokenSet | None:
        return self._holder(name).load_tokens(name, fresh=fresh)

    def save_tokens(self, name: str, tokens: TokenSet) -> None:
        """Store `tokens` (security.md#refresh-token-rotation: before the caller uses them)."""
        self._holder(name).save_tokens(name, tokens)

    def delete_tokens(self, name: str) -> None:
        self._holder(name).delete_tokens(name)

    def backend(self) -> _Vault:
        """Where secrets go (a keyring backend or the private file), chosen on first use."""
        return self._disk.backend()

    def use_store(self, choice: str, *, record: bool = True) -> str:
        """Keep client secrets and tokens in `choice` (`keyring`, `memory` or `file`) from now on,
        copying this kernel's there, and (with `record`) for later kernels using this home too.
        Returns the one line to tell the user. Raises `ConfigError` for an unknown store and
        `NoSecureStorage` (changing nothing) when `choice` may not be used here."""
        name = check_name(choice, origin="store")
        copied = self._disk.use(name)
        line = f"Client secrets and tokens are now kept in {self._disk.where()}"
        if name == "memory":
            line += " (sign in again after a kernel restart)"
        if copied:
            line += f"; copied there: {', '.join(copied)}"
        if record:
            record_choice(self.home, name)
            configured = os.environ.get(ENV_STORE, "").strip()
            if configured and configured.lower() != name:
                line += f"; {ENV_STORE}={configured} in the environment still decides in new "
                line += "kernels"
            else:
                line += "; later kernels will use it too"
        return line

    def storage(self) -> str:
        """Where client secrets and tokens are kept and why, and the choices, in a few lines
        (`%datasource storage` without an argument). Raises what `backend` raises."""
        self._disk.backend()
        return (
            f"Client secrets and tokens are kept in {self._disk.where()} "
            f"({self._disk.origin}). Choose with %datasource storage NAME, "
            f"nb_oauth.use_store(NAME) or {ENV_STORE}=NAME:\n"
            "  keyring  the system keyring (or an encrypted keyrings.cryptfile file, selected in "
            "keyring's own configuration)\n"
            "  memory   this kernel's memory: sign in again after every kernel restart\n"
            f"  file     a private file ({secrets_path(self.home)}, mode 0600 in a 0700 folder), "
            "also after a restart"
        )

    def __repr__(self) -> str:
        return f"KeyringStore(home={str(self.home)!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a KeyringStore caches secrets and cannot be pickled")


def signed_out_line(datasources: list[Datasource], *, why: str) -> str:
    """The one line a new kernel says when secrets are kept in memory and `datasources` (saved by
    earlier kernels) therefore have none: who is signed out, `why` secrets are in memory, and
    what to run."""
    names = [ds.name for ds in datasources]
    # Client credentials always need their secret; a confidential client needs it to sign in.
    secret = [ds.name for ds in datasources if ds.grant == "client_credentials"]
    maybe = [ds.name for ds in datasources
             if ds.grant != "client_credentials" and ds.client_auth != "none"]
    sign_in = [ds.name for ds in datasources if ds.grant != "client_credentials"]
    steps = []
    if secret:
        steps.append(f"enter the client secret again with {_each('edit', secret)} "
                     "--new-client-secret")
    if maybe:
        steps.append(f"{'then ' if secret else ''}sign in with {_each('connect', sign_in)} "
                     f"(first {_each('edit', maybe)} --new-client-secret if it has a client "
                     "secret)")
    elif sign_in:
        steps.append(f"{'then ' if secret else ''}sign in with {_each('connect', sign_in)}")
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "is" if len(names) == 1 else "are"
    return (
        f"{who} {verb} signed out after the kernel restart: nb_oauth keeps secrets in this "
        f"kernel's memory ({why}); {', '.join(steps)}; to keep them across restarts, run "
        f"{PERSIST}"
    )


def _each(command: str, names: list[str]) -> str:
    return f"%datasource {command} {names[0] if len(names) == 1 else 'NAME'}"


def _origin(where: str | None) -> str:
    if where == ENV_STORE:
        return f"chosen by {ENV_STORE}"
    return "chosen with %datasource storage"


def _refuse_switch(name: str, problem: str, fix: str) -> NoReturn:
    raise ConfigError("name", f"{name!r} {problem}", fix)


def _unavailable(exc: keyring.errors.KeyringError, action: str, name: str) -> NoReturn:
    # The backend's own message may quote what it was given; only its class name is shown.
    kind = type(exc).__name__
    if isinstance(exc, keyring.errors.KeyringLocked):
        fix = "unlock your keyring (log in to the desktop session, or unlock it in its app) and "
        fix += "try again"
    else:
        fix = "check that the keyring backend works (`python -m keyring diagnose`) and try "
        fix += "again, or keep secrets elsewhere with %datasource storage file"
    raise StorageUnavailable(
        f"The keyring could not {action} the secrets of {name!r} ({kind})", fix
    ) from None


class KernelMemoryKeyring(keyring.backend.KeyringBackend):
    """Where secrets go when keyring is disabled (its null backend stores nothing): this
    process's memory, for as long as the kernel runs."""

    priority = -1  # never chosen by keyring's own detection

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._entries.pop((service, username), None)
