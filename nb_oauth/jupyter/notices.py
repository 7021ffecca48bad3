"""Storage notices shown as the plain one-line messages they are.

The store says once, with a `StorageWarning`, when secrets stay in kernel memory (no usable
keyring) and which datasources a kernel restart signed out (security.md#secret-storage). Python
code sees a warning; the magics print the line and the form shows it in its status area, without
the file name and source line Python puts around a warning.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import TextIO

from nb_oauth.errors import StorageWarning

__all__ = ["storage_notices"]


@contextlib.contextmanager
def storage_notices(say: Callable[[str], None]) -> Iterator[None]:
    """Inside the block, hand every `StorageWarning` to `say` as its one-line message, at once
    (before a prompt that follows it), whatever the warning filters say; every other warning
    is shown, recorded or raised as it would have been."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", StorageWarning)
        shown_before = warnings.showwarning  # restored by catch_warnings

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, StorageWarning):
                say(str(message))
            else:
                shown_before(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield
