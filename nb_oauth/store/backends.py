"""Which keyring backends nb_oauth may keep secrets in, and what it says about the others.

The policy of security.md#secret-storage, applied at configure time (the first keyring use of a
`KeyringStore`):

* keyring's `fail` backend ("No recommended backend was available", normal on headless Linux,
  Docker and JupyterHub, where there is no Secret Service): refused with `NoSecureStorage`, whose
  one-paragraph message names the three ways out: an encrypted file backend
  (`keyrings.cryptfile`, which asks for a passphrase) selected through keyring's own
  configuration, a Secret Service in a D-Bus session, or session-only mode
  (security.md#secret-storage).
* keyring's `null` backend (after `keyring --disable`) stores nothing: allowed, with a
  `StorageWarning` that every kernel restart needs a new consent.
* a plaintext file backend (`keyrings.alt.file.PlaintextKeyring`, alone or inside keyring's
  chainer): refused unless `allow_plaintext` (or `NB_OAUTH_ALLOW_PLAINTEXT=1`) was given, and then
  allowed with a `SecurityWarning`. Never a silent plaintext fallback.
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

__all__ = ["Kind", "backend_name", "check_backend", "kind_of", "secret_size", "SMALLEST_LIMIT"]

Kind = Literal["fail", "null", "plaintext", "secure"]

_FAIL = "keyring.backends.fail.Keyring"
_NULL = "keyring.backends.null.Keyring"
_CHAINER = "keyring.backends.chainer.ChainerBackend"
_PLAINTEXT = frozenset({"keyrings.alt.file.PlaintextKeyring"})
_WINDOWS = "keyring.backends.Windows.WinVaultKeyring"
#: CRED_MAX_CREDENTIAL_BLOB_SIZE (danieljoos/wincred#18): the smallest limit a common backend has.
SMALLEST_LIMIT = 5 * 512


def _paths(backend: object) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(backend).__mro__}


def backend_name(backend: object) -> str:
    """A short, secret-free name for messages: the backend's class path."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def kind_of(backend: KeyringBackend) -> Kind:
    """Classify `backend` for the policy above; keyring's chainer by the backends it chains."""
    paths = _paths(backend)
    if _CHAINER in paths:
        members = list(getattr(type(backend), "backends", []))
        if not members:
            return "fail"
        kinds = {kind_of(member) for member in members}
        return "plaintext" if "plaintext" in kinds else "secure"
    if _FAIL in paths:
        return "fail"
    if _NULL in paths:
        return "null"
    if paths & _PLAINTEXT:
        return "plaintext"
    return "secure"


def secret_size(backend: KeyringBackend, value: str) -> tuple[int, int | None]:
    """The size `value` takes in `backend` and the backend's limit in bytes (`None`: unknown)."""
    if _WINDOWS in _paths(backend):
        return len(value.encode("utf-16-le")), SMALLEST_LIMIT
    return len(value.encode("utf-8")), None


def check_backend(backend: KeyringBackend, *, allow_plaintext: bool) -> None:
    """Apply the policy to `backend`: return, warn, or raise `NoSecureStorage`.

    Warns with `StorageWarning` (null) or `SecurityWarning` (allowed plaintext). Never logs.
    """
    kind = kind_of(backend)
    name = backend_name(backend)
    if kind == "fail":
        raise NoSecureStorage(
            "No usable keyring: the keyring package found no secure backend here (normal on "
            "headless Linux, in Docker and on JupyterHub, which have no Secret Service), so "
            "nb_oauth has nowhere safe to keep client secrets and tokens",
            _REMEDIES,
        )
    if kind == "plaintext" and not allow_plaintext:
        raise NoSecureStorage(
            f"The active keyring backend ({name}) stores secrets in plain text in a file that "
            "you, root and every backup can read, so nb_oauth will not use it unless told to",
            "pass allow_plaintext=True to KeyringStore (or set NB_OAUTH_ALLOW_PLAINTEXT=1) if "
            f"you accept that risk, or {_REMEDIES}",
        )
    if kind == "plaintext":
        warnings.warn(
            f"nb_oauth keeps client secrets and tokens in a plain-text file ({name}), as "
            "allowed by allow_plaintext; anyone who can read your files can use them",
            SecurityWarning,
            stacklevel=4,
        )
    elif kind == "null":
        warnings.warn(
            "The keyring is disabled (null backend): nb_oauth keeps secrets in this kernel's "
            "memory only, so after a kernel restart you must save the client secret and connect "
            "again",
            StorageWarning,
            stacklevel=4,
        )


_REMEDIES = (
    "either use an encrypted file backend, which asks for a passphrase: pip install "
    "keyrings.cryptfile, then select it in keyring's configuration (the line "
    "default-keyring=keyrings.cryptfile.cryptfile.CryptFileKeyring under [backend] in the "
    "keyringrc.cfg that `python -m keyring diagnose` shows, or the environment variable "
    "PYTHON_KEYRING_BACKEND=keyrings.cryptfile.cryptfile.CryptFileKeyring); or run a Secret "
    "Service such as gnome-keyring in a D-Bus session; or keep this datasource's secrets in "
    "kernel memory only with nb_oauth.save(ds, client_secret=..., session_only=True) (or set "
    "NB_OAUTH_SESSION_ONLY=1 before the first nb_oauth call) and connect again after every "
    "kernel restart"
)

