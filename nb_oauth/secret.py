"""`Secret`: a string that never shows itself.

Every credential nb_oauth holds (client secret, access and refresh tokens, PKCE verifier) lives in
a `Secret`, so that a notebook's auto-display, `%xmode Verbose` frame locals, a debugger's variable
view, `pprint` and log formatting all print `***` (security.md#errors-logs-and-reprs). The value is
only reachable through the explicit `reveal()`, which makes every place that puts a credential on
the wire easy to find.
"""

from __future__ import annotations

import hmac
from typing import NoReturn, Protocol, final

__all__ = ["Secret"]

_MASKED = "***"


class _PrettyPrinter(Protocol):
    def text(self, obj: str) -> None: ...


@final
class Secret:
    """An immutable wrapper for a secret string.

    * `str()` is `***` and `repr()` is `Secret('***')`; an empty secret shows as `Secret('')`,
      because "the secret is empty" is useful to see and reveals nothing.
    * `==` compares in constant time (`hmac.compare_digest`), so comparing leaks no timing.
    * Pickling raises `TypeError` (security.md#errors-logs-and-reprs): `%store`, `multiprocessing`
      and similar tools cannot write a secret to disk by accident. Copying returns the same object
      (it is immutable).
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        """Wrap `value`; raises `TypeError` if it is not a `str` (never echoes the value)."""
        if not isinstance(value, str):
            raise TypeError(f"Secret() takes a str, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the secret value; call it only where the value goes on the wire or to storage."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASKED if self._value else ''}')"

    def __str__(self) -> str:
        return _MASKED if self._value else ""

    def _repr_pretty_(self, printer: _PrettyPrinter, cycle: bool) -> None:
        # IPython's pretty printer (auto-display of a cell's last expression,
        # security.md#errors-logs-and-reprs).
        printer.text(repr(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "a Secret cannot be pickled; store credentials with nb_oauth.save() instead"
        )

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self
