"""The config file: the non-secret fields of every saved datasource (security.md#secret-storage).

Location: the directory in the `NB_OAUTH_HOME` environment variable, else the platform's user
config directory (`platformdirs.user_config_dir("nb_oauth")`: `~/.config/nb_oauth` on Linux,
`~/Library/Application Support/nb_oauth` on macOS, `%LOCALAPPDATA%\\nb_oauth` on Windows). The
file is `datasources.json` in it: indented JSON, because the standard library cannot write TOML
and JSON with one field per line is easy to read and to diff. One file rather than one per
datasource, so that a listing is one read and an update is one atomic rename::

    {
      "nb_oauth_config": 1,
      "datasources": {
        "crm": {"name": "crm", "grant": "client_credentials", "token_url": "https://...", ...}
      }
    }

* Written atomically: a temporary file in the same directory (created 0600 by `mkstemp`), fsync,
  then `os.replace`. Readers see the old or the new file, never a mix. Updates run under
  `datasources.json.lock`, so two kernels saving different datasources do not lose one.
* Never a secret in it: `Datasource` has no secret field, and `Datasource.from_config` refuses a
  `client_secret` key (security.md#secret-storage).
* Damaged JSON, unknown keys or an invalid datasource raise `ConfigFileError` naming the file; a
  higher `nb_oauth_config` version is refused with "upgrade nb_oauth". Nothing is ever reset or
  overwritten after such an error: the user decides.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import filelock

from nb_oauth.datasource import Datasource
from nb_oauth.errors import ConfigError, ConfigFileError, StorageUnavailable
from nb_oauth.store.atomic import write_private

__all__ = ["CONFIG_VERSION", "ConfigFile", "default_home"]

CONFIG_VERSION = 1
FILE_NAME = "datasources.json"
_VERSION_KEY = "nb_oauth_config"
_LOCK_TIMEOUT_S = 30.0


def default_home() -> Path:
    """`NB_OAUTH_HOME` if set (with `~` expanded), else the platform's user config directory."""
    configured = os.environ.get("NB_OAUTH_HOME", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("nb_oauth", appauthor=False))


class ConfigFile:
    """`datasources.json` in `home`. Thread- and process-safe updates; never holds a secret.

    Every method raises `ConfigFileError` for a file it cannot trust, and `StorageUnavailable`
    when the directory cannot be written. Never logs.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / FILE_NAME
        self._write_lock = filelock.FileLock(
            home / f"{FILE_NAME}.lock", preserve_lock_file=True, mode=0o600
        )

    def load(self) -> dict[str, Datasource]:
        """Every saved datasource by name; empty when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise self._error("cannot be read", f"({type(exc).__name__}); check the file") from None
        return self._parse(text)

    def update(self, change: Callable[[dict[str, Datasource]], object]) -> None:
        """Apply `change` to the saved datasources and write the result atomically."""
        try:
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self._write_lock.acquire(timeout=_LOCK_TIMEOUT_S):
                datasources = self.load()
                change(datasources)
                self._write(datasources)
        except filelock.Timeout:
            raise StorageUnavailable(
                f"{self.path} is being written by another process for {_LOCK_TIMEOUT_S:g} s",
                "try again",
            ) from None
        except OSError as exc:
            raise StorageUnavailable(
                f"{self.path} cannot be written ({exc.strerror or type(exc).__name__})",
                "make NB_OAUTH_HOME a writable local directory",
            ) from None

    def _write(self, datasources: dict[str, Datasource]) -> None:
        document = {
            _VERSION_KEY: CONFIG_VERSION,
            "datasources": {name: datasources[name].to_config() for name in sorted(datasources)},
        }
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        write_private(self.path, text)

    def _parse(self, text: str) -> dict[str, Datasource]:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            raise self._error("is not valid JSON", self._fix()) from None
        if not isinstance(document, dict) or _VERSION_KEY not in document:
            raise self._error("is not an nb_oauth config file", self._fix())
        version = document[_VERSION_KEY]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self._error(f"has an invalid {_VERSION_KEY} version", self._fix())
        if version > CONFIG_VERSION:
            raise self._error(
                f"was written by a newer nb_oauth (format {version}; this one reads "
                f"{CONFIG_VERSION})",
                "upgrade nb_oauth; the file was left unchanged",
            )
        unknown = sorted(set(document) - {_VERSION_KEY, "datasources"})
        entries = document.get("datasources", {})
        if unknown or not isinstance(entries, dict):
            what = f"unknown keys {', '.join(map(repr, unknown))}" if unknown else "no mapping"
            raise self._error(f"has {what}", self._fix())
        datasources: dict[str, Datasource] = {}
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                raise self._error(f"has a damaged entry {name!r}", self._fix())
            try:
                datasource = Datasource.from_config(entry)
            except ConfigError as exc:
                raise self._error(f"has an invalid entry {name!r} ({exc})", self._fix()) from None
            if datasource.name != name:
                raise self._error(f"has entry {name!r} named {datasource.name!r}", self._fix())
            datasources[name] = datasource
        return datasources

    def _error(self, problem: str, fix: str) -> ConfigFileError:
        return ConfigFileError(str(self.path), problem, fix)

    def _fix(self) -> str:
        return "fix it by hand or move it away (nb_oauth changed nothing)"

    def __repr__(self) -> str:
        return f"ConfigFile({str(self.path)!r})"
