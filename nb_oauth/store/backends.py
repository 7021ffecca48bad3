"""Which keyring backends nb_oauth may keep secrets in, and what it says about the others.

The policy of security.md#secret-storage, applied at configure time (the first keyring use of a
`KeyringStore`):

* keyring's `fail` backend ("No recommended backend was available", normal on headless Linux,
  Docker and JupyterHub, where there is no Secret Service), keyring's `null` backend (after
  `keyring --disable`), a chainer that chains nothing usable, and a plaintext file backend
  (`keyrings.alt.file.PlaintextKeyring`) without the opt-in: when no store was chosen, secrets stay
  in this kernel's memory, said once in one line (`fallback_notice`) that names the command that
  makes them persistent. When the `keyring` store was chosen explicitly, `check_backend` refuses
  `fail` and unapproved plaintext backends with a one-line `NoSecureStorage`, and keeps the `null`
  backend's secrets in memory with a `StorageWarning`.
* a plaintext file backend with `allow_plaintext` (or `NB_OAUTH_ALLOW_PLAINTEXT=1`): used, with a
  `SecurityWarning`. Never a silent plaintext fallback.
* anything else (macOS Keychain, Windows Credential Manager, Secret Service, KWallet,
  `keyrings.cryptfile`): used as is.

Size limits (security.md#secret-storage): the Windows Credential Manager holds at most 2560 bytes
per secret (stored as UTF-16, jaraco/keyring#355); `secret_limit` knows it so that the store refuses
before writing.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal

from nb_oauth.errors import NoSecureStorage, SecurityWarning, StorageWarning

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = [
    "Kind",
    "backend_name",
    "check_backend",
    "fallback_notice",
    "fallback_reason",
    "kind_of",
    "secret_size",
    "SMALLEST_LIMIT",
    "writer_of",
]

Kind = Literal["fail", "null", "plaintext", "secure"]

_FAIL = "keyring.backends.fail.Keyring"
_NULL = "keyring.backends.null.Keyring"
_CHAINER = "keyring.backends.chainer.ChainerBackend"
_PLAINTEXT = frozenset(
    {"keyrings.alt.file.PlaintextKeyring", "keyrings.cryptfile.file.PlaintextKeyring"}
)
_WINDOWS = "keyring.backends.Windows.WinVaultKeyring"
#: CRED_MAX_CREDENTIAL_BLOB_SIZE (danieljoos/wincred#18): the smallest limit a common backend has.
SMALLEST_LIMIT = 5 * 512


def _paths(backend: object) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(backend).__mro__}


def backend_name(backend: object) -> str:
    """A short, secret-free name for messages: the backend's class path."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def kind_of(backend: object) -> Kind:
    """Classify `backend` for the policy above; keyring's chainer by the first backend it chains,
    the one its writes go to (`pip install keyrings.cryptfile` on a machine without a system
    keyring gives a chainer whose first backend is the encrypted file, and plain-text backends
    after it), and as `fail` when it chains nothing."""
    paths = _paths(backend)
    if _CHAINER in paths:
        members = list(getattr(type(backend), "backends", []))
        return kind_of(members[0]) if members else "fail"
    if _FAIL in paths:
        return "fail"
    if _NULL in paths:
        return "null"
    if paths & _PLAINTEXT:
        return "plaintext"
    return "secure"


def writer_of(backend: object) -> object:
    """The backend that writes go to: the first one a keyring chainer chains, else `backend`."""
    if _CHAINER in _paths(backend):
        members = list(getattr(type(backend), "backends", []))
        return writer_of(members[0]) if members else backend
    return backend


def secret_size(backend: object, value: str) -> tuple[int, int | None]:
    """The size `value` takes in `backend` and the backend's limit in bytes (`None`: unknown)."""
    if _WINDOWS in _paths(backend):
        return len(value.encode("utf-16-le")), SMALLEST_LIMIT
    return len(value.encode("utf-8")), None


def check_backend(backend: KeyringBackend, *, allow_plaintext: bool) -> None:
    """Apply the policy of an explicit `keyring` choice to `backend`: return, warn, or raise
    `NoSecureStorage` (one line).

    Warns with `StorageWarning` (null) or `SecurityWarning` (allowed plaintext). Never logs.
    """
    kind = kind_of(backend)
    name = backend_name(backend)
    if kind == "fail":
        raise NoSecureStorage(
            "The keyring store was chosen, but keyring has no usable backend here (normal on "
            "headless Linux, in Docker and on JupyterHub)",
            f"configure one (see python -m keyring diagnose), or choose {_OTHERS}",
        )
    if kind == "plaintext" and not allow_plaintext:
        raise NoSecureStorage(
            f"The keyring store was chosen, but its backend ({name}) keeps secrets in plain text",
            f"set NB_OAUTH_ALLOW_PLAINTEXT=1 to accept that, or choose {_OTHERS}",
        )
    if kind == "plaintext":
        warnings.warn(
            f"nb_oauth keeps client secrets and tokens in a plain-text file ({name}), as "
            "allowed by allow_plaintext; anyone who can read your files can use them",
            SecurityWarning,
            stacklevel=5,
        )
    elif kind == "null":
        warnings.warn(
            "The keyring is disabled (null backend): nb_oauth keeps secrets in this kernel's "
            "memory only, so after a kernel restart you must save the client secret and connect "
            "again",
            StorageWarning,
            stacklevel=5,
        )


_OTHERS = "another store with %datasource storage memory or %datasource storage file"

_WHY = {
    "fail": "no usable system keyring here",
    "null": "the keyring is disabled",
    "plaintext": "the keyring backend {name} would keep them in plain text",
}

#: The one command that makes secrets persistent, in the fallback notice.
PERSIST = '%datasource storage file (Python: nb_oauth.use_store("file"))'


def fallback_reason(backend: object) -> str:
    """Why `backend` is not used when no store was chosen ("no usable system keyring here")."""
    return _WHY.get(kind_of(backend), _WHY["fail"]).format(name=backend_name(writer_of(backend)))


def fallback_notice(backend: object) -> str:
    """The one line said when secrets stay in kernel memory because `backend` is not usable."""
    why = fallback_reason(backend)
    return (
        f"nb_oauth keeps client secrets and tokens in this kernel's memory ({why}): after a "
        f"kernel restart, sign in again; to keep them in a private file instead, run {PERSIST}"
    )
