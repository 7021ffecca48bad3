"""The progress bar of a whole-collection pull: pages, items, elapsed, and "waiting 12 s: rate
limited" while a retry waits.

It is tqdm's ``tqdm.auto``: in a notebook with ipywidgets that is a widget bar, in a terminal a text
line, from one call, and tqdm is small, pure Python and already what analysts' notebooks use. It
comes with the ``pandas`` extra; without tqdm the pull works the same with no bar. tqdm is imported
by the first pull, never by ``import nb_oauth`` or ``%load_ext nb_oauth``. The bar appears only for
pulls that last longer than half a second, so a quick one leaves no output.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Progress", "progress_bar"]

_DELAY_S = 0.5


class Progress(Protocol):
    def page(self, items: int) -> None:
        """One more page was read; ``items`` is the total so far."""

    def waiting(self, seconds: float, reason: str) -> None:
        """A retry waits ``seconds`` for ``reason``."""

    def close(self) -> None:
        """The pull ended (or stopped)."""


class _Silent:
    def page(self, items: int) -> None:
        pass

    def waiting(self, seconds: float, reason: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Bar:
    def __init__(self, tqdm: Any, label: str) -> None:
        self._bar = tqdm(desc=label, unit=" pages", delay=_DELAY_S, leave=True)
        self._items = 0

    def page(self, items: int) -> None:
        self._items = items
        self._bar.set_postfix_str(f"{items} items", refresh=False)
        self._bar.update(1)

    def waiting(self, seconds: float, reason: str) -> None:
        self._bar.set_postfix_str(f"{self._items} items, waiting {seconds:.0f} s: {reason}")

    def close(self) -> None:
        self._bar.close()


def progress_bar(label: str, enabled: bool = True) -> Progress:
    """A bar labelled ``label`` (tqdm.auto), or one that shows nothing when ``enabled`` is false
    or tqdm is not installed."""
    if not enabled:
        return _Silent()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Silent()
    return _Bar(tqdm, label)
