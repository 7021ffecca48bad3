"""A logging filter that scrubs credentials from httpx's and httpcore's log records
(security.md#errors-logs-and-reprs).

httpx logs `HTTP Request: GET <full URL>` at INFO, so a query-parameter token (and a `code` or
`state` on a redirect) would reach any handler a notebook user configures. `install_log_filter`
puts one `RedactingFilter` on the `httpx`, `httpcore` (and their child loggers, because logger
filters are not inherited) and `nb_oauth` loggers. It rewrites each record's message and
arguments, masking the values of sensitive query parameters (`nb_oauth.redact.SENSITIVE_PARAMS`
plus each datasource's `query_param`) and of `Authorization` credentials.

Installing is idempotent: a second call adds parameter names to the filter already installed.
The filter never drops a record and never raises.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from nb_oauth.redact import MASK, SENSITIVE_PARAMS

__all__ = ["install_log_filter", "RedactingFilter"]

_LOGGERS = ("httpx", "httpcore", "nb_oauth")
_CHILD_LOGGERS = (
    "httpcore.connection",
    "httpcore.connection_pool",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_SCHEMES = ("Bearer", "Basic", "DPoP")
_lock = threading.Lock()


class RedactingFilter(logging.Filter):
    """Mask credentials in a record's message and arguments; never drops a record."""

    def __init__(self, params: Iterable[str] = (), schemes: Iterable[str] = ()) -> None:
        super().__init__()
        self._params: set[str] = set(SENSITIVE_PARAMS)
        self._schemes: set[str] = set(_SCHEMES)
        self.add(params, schemes)

    def add(self, params: Iterable[str] = (), schemes: Iterable[str] = ()) -> None:
        """Also mask the query parameters `params` and credentials after the `schemes`."""
        self._params.update(name.lower() for name in params)
        self._schemes.update(scheme for scheme in schemes if scheme)
        names = "|".join(re.escape(name) for name in sorted(self._params, key=len, reverse=True))
        schemes_ = "|".join(re.escape(s) for s in sorted(self._schemes, key=len, reverse=True))
        # `?access_token=...`, `&code=...` and `access_token=...` at a word start.
        self._param_pattern = re.compile(
            rf"(?P<key>(?<![A-Za-z0-9_.~%-])(?:{names})=)[^&\s\"'<>#]*", re.IGNORECASE
        )
        # `Authorization: Bearer x`, `(b'Authorization', b'Token x')` and a bare `Bearer x`.
        self._credential_pattern = re.compile(
            rf"(?P<key>\b(?:{schemes_})\s+)[^\s\"',)]+", re.IGNORECASE
        )
        self._header_pattern = re.compile(
            r"(?P<key>authorization['\"]?\s*[:,=]\s*b?['\"]?)[^'\"\r\n)]+", re.IGNORECASE
        )

    def scrub(self, text: str) -> str:
        """`text` with credential values replaced by `***`."""
        text = self._param_pattern.sub(rf"\g<key>{MASK}", text)
        text = self._header_pattern.sub(rf"\g<key>{MASK}", text)
        return self._credential_pattern.sub(rf"\g<key>{MASK}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.scrub(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: self._arg(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self._arg(value) for value in record.args)
        return True

    def _arg(self, value: object) -> object:
        if value is None or isinstance(value, (bool, int, float)):
            return value  # keeps %d and %f format specifiers working
        try:
            text = str(value)
        except Exception:  # a broken __str__ must not break logging (STYLE 15 exception)
            return "<unprintable>"
        scrubbed = self.scrub(text)
        return value if scrubbed == text else scrubbed


def install_log_filter(params: Iterable[str] = (), schemes: Iterable[str] = ()) -> None:
    """Put the redacting filter on the httpx, httpcore and nb_oauth loggers (idempotent).

    `params` are extra query parameter names to mask (a datasource's `query_param`), `schemes`
    extra `Authorization` schemes (its `header_prefix`).
    """
    params, schemes = tuple(params), tuple(schemes)
    with _lock:
        existing = logging.Logger.manager.loggerDict
        children = [name for name in existing if name.startswith(("httpx.", "httpcore."))]
        for name in dict.fromkeys((*_LOGGERS, *_CHILD_LOGGERS, *children)):
            logger = logging.getLogger(name)
            installed = [f for f in logger.filters if isinstance(f, RedactingFilter)]
            if installed:
                installed[0].add(params, schemes)
            else:
                logger.addFilter(RedactingFilter(params, schemes))
