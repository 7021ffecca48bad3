"""Storage notices shown as the plain one-line messages they are.

The store says once, with a `StorageWarning`, when secrets stay in kernel memory (no usable
keyring) and which datasources a kernel restart signed out (security.md#secret-storage). Python
code sees a warning; the magics print the line and the form shows it in its status area, without
the file name and source line Python puts around a warning.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from nb_oauth.errors import StorageWarning

__all__ = ["storage_notices"]


@contextlib.contextmanager
def storage_notices() -> Iterator[list[str]]:
    """Collect the `StorageWarning` messages raised inside; the list is filled when the block
    ends (also when it raises). Every other warning goes on as it came, after the caller's
    warning filters were restored."""
    notices: list[str] = []
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as log:
            warnings.simplefilter("always", StorageWarning)
            try:
                yield notices
            finally:
                caught = list(log)
    finally:
        for warning in caught:
            if issubclass(warning.category, StorageWarning):
                notices.append(str(warning.message))
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
