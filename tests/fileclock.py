"""Clocks for tests. Kept apart from conftest so that subprocesses import it cheaply."""

from __future__ import annotations

import os
from pathlib import Path

# A fixed, realistic epoch second (2027-01-15) so tests never depend on the wall clock.
EPOCH = 1_800_000_000.0


class FileClock:
    """A clock that several processes share: the time is a number in a file that only the test
    moves (``advance``), so subprocesses and the demo provider agree on it without sleeping."""

    def __init__(self, path: Path, start: float = EPOCH) -> None:
        self.path = path
        if not path.exists():
            self._write(start)

    def __call__(self) -> float:
        return float(self.path.read_text())

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._write(self() + seconds)

    def _write(self, value: float) -> None:
        # Atomic, so a reader in another process never sees a half-written number.
        temporary = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        temporary.write_text(repr(value))
        os.replace(temporary, self.path)
