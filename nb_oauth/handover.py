"""The hand-over between the Jupyter server extension and the kernel waiting for a sign-in.

Both sides run as the same user on the same machine; they share one folder under the Jupyter
runtime directory, made 0700 and refused when it is not private
(docs/security.md#the-server-callback).
Each sign-in is known by the SHA-256 of its ``state`` (the file names reveal nothing), and goes
through these files, each 0600, written whole (a temporary file, then a rename):

``<key>.pending``
    Written by the kernel when the sign-in starts: ``{"v": 1, "datasource": NAME,
    "expires_at": UNIX_TIME}``. No secret.
``<key>.claimed``
    The server's atomic claim of a pending sign-in (a rename): the first callback wins, a replay
    finds nothing to claim.
``<key>.response``
    Written by the server: ``{"v": 1, "query": "code=...&state=..."}``, the redirect's query as the
    browser sent it, so that the kernel runs its own checks on it. It holds the one-time code
    (useless without the PKCE verifier, which never leaves the kernel) and lives until the kernel
    reads it, a tenth of a second later: the kernel deletes it before it checks it, and the server
    deletes it when no kernel took it.
``<key>.done``
    Written by the kernel when the sign-in ends: ``{"v": 1, "outcome": ..., "message": ...,
    "until": UNIX_TIME}``, what the server's page says, and how a replay is recognised. No secret;
    removed ten minutes later by whichever side looks first.

Pure standard library: both the kernel and the server import this.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import parse_qsl

from nb_oauth.errors import SetupError

__all__ = [
    "Delivery",
    "Handover",
    "HandoverUnsafe",
    "Outcome",
    "PendingSignIn",
    "Verdict",
    "flow_key",
    "handover_folder",
    "jupyter_runtime_dir",
]

#: The folder's name inside the Jupyter runtime directory.
FOLDER_NAME = "nb_oauth-callbacks"
#: How long a finished sign-in's record (no secret in it) answers replays.
DONE_KEPT_S = 600.0
#: A response or temporary file older than this has no reader left: removed.
STALE_S = 60.0
_VERSION = 1
_WRONG_STATE = "wrong-state"
_MESSAGE_LIMIT = 300


class HandoverUnsafe(SetupError):
    """The hand-over folder exists but is not private to this user."""

    def __init__(self, folder: Path, problem: str) -> None:
        self.folder = folder
        super().__init__(
            f"The sign-in hand-over folder {folder} {problem}, so the server callback cannot use "
            "it; remove the folder (it is made again, private) and connect again"
        )


class Outcome(str, Enum):
    """How a sign-in ended, as the kernel records it for the server's page."""

    SIGNED_IN = "signed-in"
    FAILED = "failed"
    IGNORED = "ignored"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Delivery(str, Enum):
    """What the server did with one callback."""

    DELIVERED = "delivered"
    NO_STATE = "no-state"
    NO_PENDING = "no-pending"
    WRONG_STATE = "wrong-state"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    datasource: str


def jupyter_runtime_dir() -> Path:
    """The Jupyter runtime directory, as the Jupyter server computes it (``JUPYTER_RUNTIME_DIR``,
    else the data directory's ``runtime``)."""
    given = os.environ.get("JUPYTER_RUNTIME_DIR")
    if given:
        return Path(given)
    try:
        from jupyter_core.paths import jupyter_runtime_dir as jupyters
    except ImportError:
        return _data_dir() / "runtime"
    return Path(jupyters())


def _data_dir() -> Path:
    given = os.environ.get("JUPYTER_DATA_DIR")
    if given:
        return Path(given)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Jupyter"
    if os.name == "nt":
        return Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming") / "jupyter"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else home / ".local" / "share") / "jupyter"


def handover_folder(runtime_dir: Path | None = None) -> Path:
    """The private folder of the hand-over, made 0700 when missing; raises :class:`HandoverUnsafe`
    when it is a link, belongs to another user or is open to others."""
    folder = (runtime_dir or jupyter_runtime_dir()) / FOLDER_NAME
    folder.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise HandoverUnsafe(folder, "is not a folder")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise HandoverUnsafe(folder, "belongs to another user")
    if os.name != "nt" and stat.S_IMODE(info.st_mode) & 0o077:
        raise HandoverUnsafe(folder, f"is open to others (mode {stat.S_IMODE(info.st_mode):o})")
    return folder


def flow_key(state: str) -> str:
    """The file name stem of the sign-in with this ``state``: its SHA-256, so that the folder's
    listing reveals no state."""
    return hashlib.sha256(state.encode()).hexdigest()


class Handover:
    """The shared folder, read and written by both sides. ``wall`` is the clock (UNIX time) both
    processes agree on."""

    def __init__(self, folder: Path, *, wall: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self.wall = wall

    # -- files ---------------------------------------------------------------------------------

    def path(self, key: str, kind: str) -> Path:
        return self.folder / f"{key}.{kind}"

    def write(self, key: str, kind: str, content: dict[str, object]) -> None:
        """Write ``<key>.<kind>`` whole, 0600: a temporary file renamed into place."""
        temporary = self.folder / f".{key}.{kind}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as file:
                json.dump({"v": _VERSION, **content}, file)
            os.replace(temporary, self.path(key, kind))
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def read(self, key: str, kind: str) -> dict[str, object] | None:
        try:
            with self.path(key, kind).open() as file:
                content = json.load(file)
        except (OSError, ValueError):
            return None
        return content if isinstance(content, dict) else None

    def remove(self, key: str, *kinds: str) -> None:
        for kind in kinds:
            with contextlib.suppress(FileNotFoundError):
                self.path(key, kind).unlink()

    def _entries(self) -> Iterator[tuple[Path, str, str]]:
        for entry in self.folder.iterdir():
            key, _, kind = entry.name.partition(".")
            yield entry, key, kind

    def sweep(self) -> None:
        """Remove what outlived its sign-in: expired pending sign-ins become ``expired`` records,
        old records and any response or temporary file no one took are deleted."""
        now = self.wall()
        for entry, key, kind in list(self._entries()):
            if kind in ("pending", "claimed"):
                content = self.read(key, kind)
                if content is None and not entry.exists():
                    continue  # claimed or withdrawn meanwhile: not ours to judge
                if content is None or _number(content.get("expires_at")) <= now:
                    name = str((content or {}).get("datasource", ""))
                    self.finish(key, Outcome.EXPIRED, "", name)
                    self.remove(key, kind)
            elif kind == "seen":
                with contextlib.suppress(OSError):
                    if entry.lstat().st_mtime < now - DONE_KEPT_S:
                        entry.unlink()
            elif kind == "done":
                content = self.read(key, kind)
                if content is None or _number(content.get("until")) <= now:
                    self.remove(key, kind)
            else:
                with contextlib.suppress(OSError):
                    if entry.lstat().st_mtime < now - STALE_S:
                        entry.unlink()

    def finish(self, key: str, outcome: Outcome, message: str, datasource: str) -> None:
        self.write(
            key,
            "done",
            {
                "outcome": outcome.value,
                "message": message[:_MESSAGE_LIMIT],
                "datasource": datasource,
                "until": self.wall() + DONE_KEPT_S,
            },
        )

    def verdict(self, key: str) -> Verdict | None:
        content = self.read(key, "done")
        if content is None:
            return None
        try:
            outcome = Outcome(content.get("outcome"))
        except ValueError:
            return None
        return Verdict(outcome, str(content.get("message", "")), str(content.get("datasource", "")))

    # -- the kernel's side ---------------------------------------------------------------------

    def register(self, state: str, datasource: str, expires_at: float) -> PendingSignIn:
        """Announce a sign-in that waits for the response carrying ``state``."""
        with contextlib.suppress(OSError):
            self.sweep()
        key = flow_key(state)
        self.remove(key, "done", "response", "claimed")
        self.write(key, "pending", {"datasource": datasource, "expires_at": expires_at})
        return PendingSignIn(self, key, datasource, expires_at)

    # -- the server's side ---------------------------------------------------------------------

    def deliver(self, query: str) -> tuple[Delivery, str | None]:
        """Hand one callback's query to the sign-in its ``state`` names; returns what happened and
        the flow's key when one was found. Checks nothing else: the kernel does."""
        with contextlib.suppress(OSError):
            self.sweep()
        states = [value for name, value in parse_qsl(query, keep_blank_values=True)
                  if name == "state"]
        if len(states) != 1 or not states[0]:
            self.note_wrong_state()
            return Delivery.NO_STATE, None
        key = flow_key(states[0])
        try:
            # The claim: one rename, so that of two callbacks at once only one goes through.
            os.rename(self.path(key, "pending"), self.path(key, "claimed"))
        except FileNotFoundError:
            delivery = self._unclaimable(key)
            if delivery in (Delivery.WRONG_STATE, Delivery.NO_PENDING):
                self.note_wrong_state()
            return delivery, None
        content = self.read(key, "claimed") or {}
        datasource = str(content.get("datasource", ""))
        if _number(content.get("expires_at")) <= self.wall():
            self.finish(key, Outcome.EXPIRED, "", datasource)
            self.remove(key, "claimed")
            return Delivery.EXPIRED, key
        self.remove(key, "done")  # a verdict on an earlier, malformed response
        self.write(key, "response", {"query": query})
        self.remove(key, "claimed")
        return Delivery.DELIVERED, key

    def _unclaimable(self, key: str) -> Delivery:
        verdict = self.verdict(key)
        if verdict is not None and verdict.outcome is Outcome.EXPIRED:
            return Delivery.EXPIRED
        if verdict is not None and verdict.outcome is Outcome.CANCELLED:
            return Delivery.CANCELLED
        if verdict is not None or self.path(key, "response").exists() or self.path(
            key, "claimed"
        ).exists():
            return Delivery.REPLAYED
        if any(kind == "pending" for _, _, kind in self._entries()):
            return Delivery.WRONG_STATE
        return Delivery.NO_PENDING

    def note_wrong_state(self) -> None:
        """Remember that a response with an unknown ``state`` came: a kernel whose sign-in then
        times out says so (a wrong state, not silence)."""
        self.write(_WRONG_STATE, "seen", {"at": self.wall()})

    def wrong_state_since(self, since: float) -> bool:
        content = self.read(_WRONG_STATE, "seen")
        return content is not None and _number(content.get("at")) >= since

    def withdraw(self, key: str) -> bool:
        """Delete a response no kernel took (it holds a code); True if there was one."""
        try:
            self.path(key, "response").unlink()
        except FileNotFoundError:
            return False
        return True


class PendingSignIn:
    """The kernel's handle on its registered sign-in."""

    def __init__(self, handover: Handover, key: str, datasource: str, expires_at: float) -> None:
        self.handover = handover
        self.key = key
        self.datasource = datasource
        self.expires_at = expires_at
        self.finished = False

    def take_response(self) -> str | None:
        """The query the server delivered, deleted from disk as it is read; ``None`` yet."""
        path = self.handover.path(self.key, "response")
        content = self.handover.read(self.key, "response")
        if content is None:
            return None
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        query = content.get("query")
        return query if isinstance(query, str) else None

    def rearm(self) -> None:
        """Wait again after a response that could not be acted on (malformed)."""
        self.handover.write(
            self.key, "pending", {"datasource": self.datasource, "expires_at": self.expires_at}
        )

    def ignored(self, message: str) -> None:
        """A response that could not be acted on (malformed): wait again, then tell the page
        (in that order, so that a retry prompted by the page finds the sign-in waiting)."""
        self.rearm()
        self.handover.finish(self.key, Outcome.IGNORED, message, self.datasource)

    def finish(self, outcome: Outcome, message: str) -> None:
        """Record the outcome for the server's page; the sign-in takes no more responses."""
        self.finished = True
        self.handover.remove(self.key, "pending", "claimed")
        self.handover.finish(self.key, outcome, message, self.datasource)

    def close(self, outcome: Outcome) -> None:
        """Called on every exit: no pending file, no response stays behind."""
        if not self.finished:
            self.finish(outcome, "")
        self.handover.remove(self.key, "pending", "claimed", "response")


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
