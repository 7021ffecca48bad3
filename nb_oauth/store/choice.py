"""Which store keeps client secrets and tokens: the one switch (security.md#secret-storage).

Three stores, chosen by the first of:

1. the environment variable `NB_OAUTH_STORE=keyring|memory|file`;
2. the last `%datasource storage NAME` / `nb_oauth.use_store(NAME)`, recorded in
   `<NB_OAUTH_HOME>/storage.json` (no secret in it), so that it holds after a kernel restart;
3. nothing chosen: the system keyring when keyring has a secure backend, else this kernel's memory,
   said once in one line (keyring's `fail` and `null` backends, a chainer with nothing usable, a
   plain-text backend without `NB_OAUTH_ALLOW_PLAINTEXT=1`).

`keyring` asks for a keyring and refuses (one line) when there is none; `memory` keeps secrets in
this kernel only; `file` keeps them in a 0600 file (`nb_oauth.store.file_vault`). Settings always
go to the config file; only the secrets move.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from nb_oauth.errors import ConfigError, StorageUnavailable
from nb_oauth.store.atomic import write_private

__all__ = ["ENV_STORE", "STORES", "StoreName", "check_name", "chosen_store", "record_choice"]

StoreName = Literal["keyring", "memory", "file"]
STORES: tuple[StoreName, ...] = ("keyring", "memory", "file")
ENV_STORE = "NB_OAUTH_STORE"
RECORD_NAME = "storage.json"
_VERSION_KEY = "nb_oauth_storage"


def check_name(value: str, *, origin: str) -> StoreName:
    """`value` as a store name; `ConfigError` (naming `origin`) when it is none of them."""
    name = value.strip().lower()
    if name not in STORES:
        raise ConfigError(
            origin, f"{value.strip()!r} is not a store", f"use one of {', '.join(STORES)}"
        )
    return name


def chosen_store(home: Path) -> tuple[StoreName | None, str | None]:
    """The chosen store and where the choice was made (`NB_OAUTH_STORE` or the record file), or
    `(None, None)` when nothing was chosen. Raises `ConfigError` for an unknown name and
    `StorageUnavailable` for a damaged record (choosing again replaces it)."""
    configured = os.environ.get(ENV_STORE, "").strip()
    if configured:
        return check_name(configured, origin=ENV_STORE), ENV_STORE
    path = home / RECORD_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, UnicodeDecodeError):
        document = None
    recorded = document.get("store") if isinstance(document, dict) else None
    if not isinstance(recorded, str):
        raise StorageUnavailable(
            f"{path} is damaged", "choose the store again with %datasource storage NAME"
        )
    return check_name(recorded, origin=str(path)), str(path)


def record_choice(home: Path, name: StoreName) -> Path:
    """Record `name` as the store of every later kernel that uses `home`, atomically (a 0600
    temporary file renamed over the record). Raises `StorageUnavailable`."""
    path = home / RECORD_NAME
    text = json.dumps({_VERSION_KEY: 1, "store": name}) + "\n"
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, text)
    except OSError as exc:
        raise StorageUnavailable(
            f"{path} cannot be written ({exc.strerror or type(exc).__name__})",
            "make NB_OAUTH_HOME a writable local folder",
        ) from None
    return path
