"""Waiting when an API says "not now": rate limits and transient failures, for every request of
the clients nb_oauth makes (security.md#rate-limits-and-retries).

`RetryTransport` (and `AsyncRetryTransport`) wrap the client's transport. A request is sent once as
is; only when the answer asks for a wait does the retry loop start:

* 429 or 503 with `Retry-After` (seconds, or an HTTP date; RFC 9110 §10.2.3): wait that long;
* 403 or 429 with GitHub's `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (epoch seconds):
  wait until the reset;
* 429 without a usable `Retry-After`, and connection failures (refused, reset, dropped before an
  answer): capped exponential backoff with full jitter.

Only idempotent methods are retried (RFC 9110 §9.2.2), unless the caller's `RetryPolicy` names
more; a body that cannot be sent twice (a generator) is never retried. Every wait is bounded by
`RetryPolicy`: the number of retries, the longest single wait and the total budget. A wait the API
asks for beyond those bounds is not made: `RateLimited` says when to try again. Connection failures
that outlast the retries are raised as they are (httpx's own errors).

The loop itself is tenacity's (docs/architecture.md, "Retries": why tenacity), given the sleep
function the session was made with, so tests move a fake clock instead of sleeping; tenacity is
imported only when a retry happens, so a request that is answered at once costs a status check.
A waited retry is logged at INFO on the ``nb_oauth.retries`` logger (method, redacted URL,
status, seconds) and told to whoever listens through `on_wait` (the progress bar of `fetch_all`).
Nothing here reads or changes tokens.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from nb_oauth.errors import RateLimited
from nb_oauth.redact import redact_url

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "AsyncRetryTransport",
    "CONNECTION_ERRORS",
    "IDEMPOTENT_METHODS",
    "on_wait",
    "parse_retry_after",
    "RetryPolicy",
    "RetryTransport",
]

log = logging.getLogger("nb_oauth.retries")

#: RFC 9110 §9.2.2: a repeat has the same effect as one request.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Failures where the server gave no answer: retried with backoff.
CONNECTION_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
_MAYBE_RETRIED = frozenset({403, 429, 503})

WaitListener = Callable[[float, str], None]
_listener: ContextVar[WaitListener | None] = ContextVar("nb_oauth_wait_listener", default=None)


@dataclass(frozen=True)
class RetryPolicy:
    """The bounds of waiting and retrying (the defaults are nb_oauth's; pass your own as
    ``nb_oauth.client(name, retry=RetryPolicy(...))`` or ``fetch_all(..., retry=...)``;
    ``retry=None`` turns retries off).

    * ``max_retries``: retries after the first attempt (default 5);
    * ``max_wait``: the longest single wait in seconds (default 60); an API that asks for more is
      not waited for;
    * ``budget``: the most seconds of waiting for one request, all retries together (default 120);
    * ``backoff``: the first backoff in seconds for connection failures and a 429 that does not
      say how long, doubled each retry (with full jitter) up to ``max_wait``;
    * ``methods``: the methods retried (default: the idempotent ones); add ``"POST"`` only when
      the API makes repeated POSTs safe (an idempotency key).
    """

    max_retries: int = 5
    max_wait: float = 60.0
    budget: float = 120.0
    backoff: float = 0.5
    methods: frozenset[str] = field(default=IDEMPOTENT_METHODS)

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError("max_retries must be an int")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        for name in ("max_wait", "budget", "backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number of seconds, 0 or more")
        if isinstance(self.methods, str):
            raise TypeError("methods must be a collection of method names, such as {'GET'}")
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3: delay-seconds or an
    HTTP-date), or ``None`` when it is neither (a negative number, text). A date in the past
    means no wait."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 §5.6.7: HTTP dates are in GMT
        return None
    return max(0.0, moment.timestamp() - now)


@contextlib.contextmanager
def on_wait(listener: WaitListener) -> Iterator[None]:
    """Within the block (this thread or task), ``listener(seconds, reason)`` is called before each
    retry wait, e.g. to show "waiting 12 s: rate limited" in a progress bar."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


@dataclass(frozen=True)
class _Ask:
    """What an answer asks for: a wait of ``seconds`` (``None``: back off) for ``reason``, until
    ``until`` (epoch seconds) when the API said."""

    seconds: float | None
    reason: str
    until: float | None = None


def human_duration(seconds: float) -> str:
    """A wait for people: ``45 s``, ``10 min``, ``2.5 h``, ``365 days``."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{round(seconds / 60)} min"
    return f"{max(0, round(seconds))} s"


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _ask(response: httpx.Response, now: float) -> _Ask | None:
    status = response.status_code
    headers = response.headers
    if status in (429, 503) and "Retry-After" in headers:
        seconds = parse_retry_after(headers["Retry-After"], now)
        reason = "rate limited" if status == 429 else "service unavailable"
        if seconds is not None:
            return _Ask(seconds, reason, now + seconds)
    if status in (403, 429) and headers.get("X-RateLimit-Remaining", "").strip() == "0":
        reset = _number(headers.get("X-RateLimit-Reset"))
        if reset is not None:
            return _Ask(max(0.0, reset - now), "rate limit used up", reset)
    if status == 429:
        return _Ask(None, "rate limited")
    return None


class _GiveUp:
    def __init__(self, state: tenacity.RetryCallState) -> None:
        self.state = state


class _Call:
    """The retry loop of one request: tenacity's strategies, reading the answers."""

    def __init__(self, owner: _RetryBase, request: httpx.Request) -> None:
        self.owner = owner
        self.request = request
        self.ask: _Ask | None = None
        self.why_stop = ""
        self.previous: httpx.Response | None = None

    # -- tenacity's strategies ---------------------------------------------------------------

    def retry(self, state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            error = outcome.exception()
            self.ask = None
            return isinstance(error, CONNECTION_ERRORS)
        self.ask = _ask(outcome.result(), self.owner.now())
        return self.ask is not None

    def wait(self, state: tenacity.RetryCallState) -> float:
        if self.ask is not None and self.ask.seconds is not None:
            return self.ask.seconds
        policy = self.owner.policy
        # Full jitter over a doubling window, capped (the exponential backoff of the AWS
        # Architecture Blog's "Exponential Backoff And Jitter").
        window = min(policy.max_wait, policy.backoff * 2 ** (state.attempt_number - 1))
        return float(self.owner.jitter(0.0, window))

    def stop(self, state: tenacity.RetryCallState) -> bool:
        policy = self.owner.policy
        upcoming = state.upcoming_sleep
        if state.attempt_number > policy.max_retries:
            self.why_stop = (
                f"still refused after {policy.max_retries} "
                f"retr{'y' if policy.max_retries == 1 else 'ies'} "
                f"and {human_duration(state.idle_for)} of waiting"
            )
            return True
        if upcoming > policy.max_wait:
            self.why_stop = (
                f"it asks to wait {human_duration(upcoming)}, more than the "
                f"{policy.max_wait:g} s nb_oauth waits at once"
            )
            return True
        if state.idle_for + upcoming > policy.budget:
            self.why_stop = (
                f"waiting {human_duration(upcoming)} more would pass the budget of "
                f"{policy.budget:g} s of waiting for one request"
            )
            return True
        return False

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        seconds = state.upcoming_sleep
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            reason = f"connection failed ({type(outcome.exception()).__name__})"
        else:
            reason = self.ask.reason if self.ask is not None else "refused"
        policy = self.owner.policy
        log.info(
            "%s: %s %s: %s; waiting %.1f s before retry %d of %d",
            self.owner.name or "nb_oauth",
            self.request.method,
            redact_url(str(self.request.url)),
            reason,
            seconds,
            state.attempt_number,
            policy.max_retries,
        )
        listener = _listener.get()
        if listener is not None:
            listener(seconds, reason)

    def options(self) -> dict[str, Any]:
        return {
            "retry": self.retry,
            "wait": self.wait,
            "stop": self.stop,
            "before_sleep": self.before_sleep,
            "retry_error_callback": _GiveUp,
        }

    def rate_limited(self, state: tenacity.RetryCallState, status: int) -> RateLimited:
        ask = self.ask
        return RateLimited(
            self.why_stop,
            status_code=status,
            reason=ask.reason if ask else "refused",
            retry_at=ask.until if ask else None,
            retries=state.attempt_number - 1,
            waited=state.idle_for,
            datasource=self.owner.name,
        )


class _RetryBase:
    def __init__(
        self,
        policy: RetryPolicy,
        *,
        name: str | None,
        now: Callable[[], float],
        jitter: Callable[[float, float], float] | None,
    ) -> None:
        import random

        self.policy = policy
        self.name = name
        self.now = now
        self.jitter = jitter or random.uniform

    def _may_retry(self, request: httpx.Request) -> bool:
        return (
            self.policy.max_retries > 0
            and request.method in self.policy.methods
            and isinstance(request.stream, httpx.ByteStream)  # a body that can be sent again
        )

    def _first_asks(self, response: httpx.Response) -> bool:
        return response.status_code in _MAYBE_RETRIED and _ask(response, self.now()) is not None


class RetryTransport(_RetryBase, httpx.BaseTransport):
    """A transport that retries ``inner``'s requests within ``policy`` (see the module docstring).

    ``sleep`` and ``now`` are injected (tests pass a fake clock's); ``jitter(a, b)`` draws the
    backoff (default ``random.uniform``). ``name`` is the datasource named in messages. Raises
    `RateLimited` when the API asks for a wait beyond the policy; never logs a token.
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        policy: RetryPolicy | None = None,
        *,
        name: str | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] | None = None,
    ) -> None:
        super().__init__(policy or RetryPolicy(), name=name, now=now, jitter=jitter)
        self.inner = inner
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self._may_retry(request):
            return self.inner.handle_request(request)
        try:
            response = self.inner.handle_request(request)
        except CONNECTION_ERRORS as exc:
            return self._retry(request, exc)
        if self._first_asks(response):
            return self._retry(request, response)
        return response

    def _retry(self, request: httpx.Request, first: httpx.Response | Exception) -> httpx.Response:
        import tenacity

        call = _Call(self, request)
        pending = [first]

        def attempt() -> httpx.Response:
            if call.previous is not None:
                call.previous.close()
                call.previous = None
            outcome = pending.pop() if pending else self.inner.handle_request(request)
            if isinstance(outcome, Exception):
                raise outcome
            call.previous = outcome
            return outcome

        result: httpx.Response | _GiveUp = tenacity.Retrying(sleep=self.sleep, **call.options())(
            attempt
        )
        if isinstance(result, _GiveUp):
            outcome = result.state.outcome
            assert outcome is not None
            if outcome.failed:
                raise outcome.exception()  # type: ignore[misc]
            response = outcome.result()
            response.close()
            raise call.rate_limited(result.state, response.status_code)
        return result

    def close(self) -> None:
        self.inner.close()


class AsyncRetryTransport(_RetryBase, httpx.AsyncBaseTransport):
    """`RetryTransport` for `httpx.AsyncClient`: the same policy and rules, with an async
    ``sleep`` (default ``anyio.sleep``, so asyncio and trio both work)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: RetryPolicy | None = None,
        *,
        name: str | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        jitter: Callable[[float, float], float] | None = None,
    ) -> None:
        super().__init__(policy or RetryPolicy(), name=name, now=now, jitter=jitter)
        self.inner = inner
        self.sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._may_retry(request):
            return await self.inner.handle_async_request(request)
        try:
            response = await self.inner.handle_async_request(request)
        except CONNECTION_ERRORS as exc:
            return await self._retry(request, exc)
        if self._first_asks(response):
            return await self._retry(request, response)
        return response

    async def _retry(
        self, request: httpx.Request, first: httpx.Response | Exception
    ) -> httpx.Response:
        import anyio
        import tenacity

        call = _Call(self, request)
        pending = [first]

        async def attempt() -> httpx.Response:
            if call.previous is not None:
                await call.previous.aclose()
                call.previous = None
            if pending:
                outcome = pending.pop()
            else:
                outcome = await self.inner.handle_async_request(request)
            if isinstance(outcome, Exception):
                raise outcome
            call.previous = outcome
            return outcome

        retrying = tenacity.AsyncRetrying(sleep=self.sleep or anyio.sleep, **call.options())
        result: httpx.Response | _GiveUp = await retrying(attempt)
        if isinstance(result, _GiveUp):
            outcome = result.state.outcome
            assert outcome is not None
            if outcome.failed:
                raise outcome.exception()  # type: ignore[misc]
            response = outcome.result()
            await response.aclose()
            raise call.rate_limited(result.state, response.status_code)
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()
