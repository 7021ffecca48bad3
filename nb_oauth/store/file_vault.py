"""`FileVault`: client secrets and tokens in one private file, for machines without a keyring
(security.md#secret-storage).

The `file` store of `NB_OAUTH_STORE` / `%datasource storage file`, as the GitHub, Google Cloud and
Azure command-line tools keep their credentials on such machines:

* the file is `<NB_OAUTH_HOME>/secrets/secrets.json`, mode 0600, in the folder `secrets`, mode
  0700, both owned by the user;
* a folder or file that group or others can read or write, or that another user owns, is refused
  with `NoSecureStorage` (one line with the `chmod` that fixes it): nb_oauth never widens, narrows
  or writes through such permissions by itself;
* writes are atomic: a temporary file in the same folder (created 0600 by `mkstemp`), fsync, then
  `os.replace`, under `secrets.json.lock`, so two kernels never lose each other's update and a
  reader sees the old or the new file, never a mix;
* the entries are keyed like keyring entries (service `nb_oauth:<name>`, user `client_secret` or
  `token_set`), so `KeyringStore` uses this vault exactly as it uses a keyring backend.

It is never chosen silently: only `NB_OAUTH_STORE=file`, `%datasource storage file` or
`nb_oauth.use_store("file")` select it. On Windows the POSIX modes are not checked (the file
inherits the ACL of the user's profile folder). Nothing here logs; no message carries a secret.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import filelock

from nb_oauth.errors import NoSecureStorage, StorageUnavailable
from nb_oauth.store.atomic import write_private

__all__ = ["FILE_NAME", "FOLDER_NAME", "FileVault", "secrets_path"]

FOLDER_NAME = "secrets"
FILE_NAME = "secrets.json"
_VERSION_KEY = "nb_oauth_secrets"
_VERSION = 1
_LOCK_TIMEOUT_S = 30.0
_CHECK_MODES = os.name == "posix"


def secrets_path(home: Path) -> Path:
    """Where the `file` store keeps secrets under `home` (`NB_OAUTH_HOME`)."""
    return home / FOLDER_NAME / FILE_NAME


class FileVault:
    """Secrets in `<home>/secrets/secrets.json` (0600 in a 0700 folder). Thread- and
    process-safe; the keyring backend methods `get_password`, `set_password` and
    `delete_password` (idempotent).

    Every method raises `NoSecureStorage` when the folder or the file is open to group or
    others, and `StorageUnavailable` when it cannot read or write them. Never logs.
    """

    def __init__(self, home: Path) -> None:
        self.path = secrets_path(home)
        self.folder = self.path.parent
        self._lock = filelock.FileLock(
            self.folder / f"{FILE_NAME}.lock", preserve_lock_file=True, mode=0o600
        )

    # --- the checks -------------------------------------------------------------------------------

    def check(self, *, create: bool = False) -> None:
        """Refuse a folder or file that others may read; with `create`, make the folder (0700)
        first. Raises `NoSecureStorage` or `StorageUnavailable`."""
        if create:
            try:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                self._unavailable("created", exc)
        for path, wanted in ((self.folder, "700"), (self.path, "600")):
            self._check_one(path, wanted)

    def _check_one(self, path: Path, wanted: str) -> None:
        if not _CHECK_MODES:
            return
        try:
            info = path.stat()
        except FileNotFoundError:
            return
        except OSError as exc:
            self._unavailable("read", exc)
        kind = "folder" if stat.S_ISDIR(info.st_mode) else "file"
        if info.st_uid != os.getuid():
            raise NoSecureStorage(
                f"nb_oauth will not keep secrets in {path}: that {kind} belongs to another user",
                "point NB_OAUTH_HOME at a folder of your own, or choose another store with "
                "%datasource storage",
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise NoSecureStorage(
                f"nb_oauth will not keep secrets in the {kind} {path}: group or others have "
                f"access to it (mode {mode:04o})",
                f"run chmod {wanted} {path}, or choose another store with %datasource storage",
            )

    # --- keyring's three calls --------------------------------------------------------------------

    def get_password(self, service: str, username: str) -> str | None:
        entry = self._read().get(service, {})
        value = entry.get(username)
        return value if isinstance(value, str) else None

    def set_password(self, service: str, username: str, password: str) -> None:
        def change(entries: dict[str, dict[str, str]]) -> None:
            entries.setdefault(service, {})[username] = password

        self._change(change)

    def delete_password(self, service: str, username: str) -> None:
        def change(entries: dict[str, dict[str, str]]) -> None:
            entry = entries.get(service)
            if entry is not None:
                entry.pop(username, None)
                if not entry:
                    del entries[service]

        if self.path.exists():
            self._change(change)

    # --- reading and writing ----------------------------------------------------------------------

    def _read(self) -> dict[str, dict[str, str]]:
        self.check()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except UnicodeDecodeError:
            text = ""
        except OSError as exc:
            self._unavailable("read", exc)
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            document = None
        entries = document.get("entries") if isinstance(document, dict) else None
        if (
            not isinstance(entries, dict)
            or not isinstance(document, dict)
            or document.get(_VERSION_KEY) != _VERSION
            or not all(isinstance(entry, dict) for entry in entries.values())
        ):
            # Never reset: the user decides what to do with a file nb_oauth cannot read.
            raise StorageUnavailable(
                f"the nb_oauth secrets file {self.path} is damaged or from a newer nb_oauth",
                "move it away (nb_oauth changed nothing) and sign in again",
            )
        return entries

    def _change(self, change: Callable[[dict[str, dict[str, str]]], object]) -> None:
        self.check(create=True)
        try:
            with self._lock.acquire(timeout=_LOCK_TIMEOUT_S):
                entries = self._read()
                change(entries)
                self._write(entries)
        except filelock.Timeout:
            raise StorageUnavailable(
                f"{self.path} is being written by another process for {_LOCK_TIMEOUT_S:g} s",
                "try again",
            ) from None
        except OSError as exc:
            self._unavailable("written", exc)

    def _write(self, entries: dict[str, dict[str, str]]) -> None:
        text = json.dumps({_VERSION_KEY: _VERSION, "entries": entries}, indent=1) + "\n"
        write_private(self.path, text)

    def _unavailable(self, action: str, exc: OSError) -> NoReturn:
        raise StorageUnavailable(
            f"the nb_oauth secrets file {self.path} cannot be {action} "
            f"({exc.strerror or type(exc).__name__})",
            "make NB_OAUTH_HOME a writable local folder of your own",
        ) from None

    def __repr__(self) -> str:
        return f"FileVault({str(self.path)!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a FileVault reads secrets and cannot be pickled")
