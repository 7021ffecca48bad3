"""One way to write a file of nb_oauth's own: whole or not at all, readable by its owner only.

A temporary file in the same folder (created 0600 by `mkstemp`), flushed and synced, then renamed
over the target with `os.replace`, atomic on POSIX and Windows: a reader sees the old file or the
new one, never a mix, and a failed write leaves the old one and no temporary behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_private"]


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically; raises `OSError` and leaves `path` as it
    was."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
