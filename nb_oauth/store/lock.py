"""The cross-process renewal lock of one datasource: a file lock next to the config
(security.md#single-flight-renewal).

Kernels that share a datasource share its refresh token. With rotation (RFC 9700 §4.14.2) a
refresh token may be spent once, so two kernels refreshing at the same moment would make the
server see a reused token and revoke the whole family. The auth therefore renews only while it
holds this lock, and re-reads the keyring under it: the second kernel finds the first one's new
tokens and sends nothing.

Built on `filelock` (an OS lock: `flock` on POSIX, `msvcrt.locking` on Windows), so the operating
system releases it when the process dies, even on `kill -9`: a crashed or interrupted kernel never
leaves a held lock (security.md#network-faults). Lock files live in
`<NB_OAUTH_HOME>/locks/<name>.lock`, are empty, and are kept after release (deleting a lock file
while another process waits on it would let two processes hold "the" lock on different files).
"""

from __future__ import annotations

from pathlib import Path

import filelock

from nb_oauth.errors import StorageUnavailable

__all__ = ["FileRenewalLock", "lock_path"]

_POLL_S = 0.01


def lock_path(home: Path, name: str) -> Path:
    """Where the renewal lock of datasource `name` lives (names are `[A-Za-z0-9_-]+`)."""
    return home / "locks" / f"{name}.lock"


class FileRenewalLock:
    """A `RenewalLock` on `path`. Not reentrant; may be released from another thread.

    `acquire` raises `StorageUnavailable` when the lock file cannot be created; it never logs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = filelock.FileLock(
            path, thread_local=False, preserve_lock_file=True, mode=0o600
        )

    def acquire(self, timeout: float) -> bool:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock.acquire(timeout=timeout, poll_interval=_POLL_S, blocking=timeout != 0)
        except filelock.Timeout:
            return False
        except OSError as exc:
            raise StorageUnavailable(
                f"the renewal lock file {self.path} cannot be created ({exc.strerror or exc})",
                "make NB_OAUTH_HOME a writable local directory",
            ) from None
        return True

    def release(self) -> None:
        self._lock.release()

    @property
    def is_locked(self) -> bool:
        return self._lock.is_locked

    def __repr__(self) -> str:
        return f"FileRenewalLock({str(self.path)!r})"
