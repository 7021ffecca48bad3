"""Rate limits and transient failures (SPEC section 12): the retrying transport under misbehaving
servers (httpx.MockTransport), sync and async. Waits move a FakeClock: nothing sleeps.
The demo API's real 429 is exercised in tests/test_pages.py."""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterator

import anyio
import httpx
import pytest

from nb_oauth.errors import RateLimited
from nb_oauth.retries import (
    AsyncRetryTransport,
    RetryPolicy,
    RetryTransport,
    on_wait,
    parse_retry_after,
)
from tests.conftest import EPOCH, FakeClock

URL = "https://api.example.test/v1/things"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Script:
    """A server that answers from a list (the last answer repeats), counting calls."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok() -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


def limited(status: int = 429, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, headers={k.replace("_", "-"): v for k, v in headers.items()}, json={}
    )


def upper(low: float, high: float) -> float:
    return high  # the jitter draws the top of its window: waits are predictable


def sync_client(
    script: Script, clock: FakeClock, policy: RetryPolicy | None = None
) -> httpx.Client:
    transport = RetryTransport(
        httpx.MockTransport(script),
        policy,
        name="crm",
        now=clock,
        sleep=clock.advance,
        jitter=upper,
    )
    return httpx.Client(transport=transport)


def test_retry_after_seconds_waits_then_retries_once(clock: FakeClock, caplog) -> None:
    script = Script(limited(Retry_After="2"), ok())
    with caplog.at_level(logging.INFO, logger="nb_oauth.retries"), sync_client(
        script, clock
    ) as client:
        response = client.get(URL)
    assert response.status_code == 200
    assert script.calls == 2
    assert clock() - EPOCH == 2
    [record] = [r for r in caplog.records if r.name == "nb_oauth.retries"]
    assert record.levelno == logging.INFO
    assert "rate limited" in record.getMessage() and "2.0 s" in record.getMessage()


def test_retry_after_http_date_waits_until_that_date(clock: FakeClock) -> None:
    date = email.utils.formatdate(EPOCH + 7, usegmt=True)
    script = Script(limited(503, Retry_After=date), ok())
    with sync_client(script, clock) as client:
        assert client.get(URL).status_code == 200
    assert clock() - EPOCH == pytest.approx(7)


def test_a_503_without_retry_after_is_returned_as_is(clock: FakeClock) -> None:
    script = Script(limited(503), ok())
    with sync_client(script, clock) as client:
        assert client.get(URL).status_code == 503
    assert script.calls == 1 and clock() == EPOCH


def test_github_rate_limit_waits_until_the_reset(clock: FakeClock) -> None:
    reset = str(int(EPOCH + 30))
    script = Script(limited(403, X_RateLimit_Remaining="0", X_RateLimit_Reset=reset), ok())
    with sync_client(script, clock) as client:
        assert client.get(URL).status_code == 200
    assert clock() - EPOCH == pytest.approx(30)


def test_github_reset_beyond_the_longest_wait_fails_with_when_to_retry(clock: FakeClock) -> None:
    reset = EPOCH + 3600
    script = Script(limited(403, X_RateLimit_Remaining="0", X_RateLimit_Reset=str(int(reset))))
    with sync_client(script, clock) as client, pytest.raises(RateLimited) as caught:
        client.get(URL)
    assert script.calls == 1 and clock() == EPOCH
    message = str(caught.value)
    assert message.startswith("crm: ") and "\n" not in message
    assert "rate limit used up" in message and "60 min" in message
    assert "try again after 2027-01-15 09:00:00 UTC" in message
    assert caught.value.retry_at == reset
    assert isinstance(caught.value, httpx.HTTPError)


def test_a_403_that_is_not_a_rate_limit_is_not_retried(clock: FakeClock) -> None:
    script = Script(limited(403, X_RateLimit_Remaining="12"), ok())
    with sync_client(script, clock) as client:
        assert client.get(URL).status_code == 403
    assert script.calls == 1


def test_retry_after_of_a_year_is_refused_at_once(clock: FakeClock) -> None:
    script = Script(limited(Retry_After=str(365 * 86400)), ok())
    with sync_client(script, clock) as client, pytest.raises(RateLimited) as caught:
        client.get(URL)
    assert script.calls == 1 and clock() == EPOCH
    assert "365 days" in str(caught.value) and "60 s" in str(caught.value)


def test_negative_retry_after_is_ignored_and_backoff_used(clock: FakeClock) -> None:
    script = Script(limited(Retry_After="-30"), ok())
    with sync_client(script, clock) as client:
        assert client.get(URL).status_code == 200
    assert clock() - EPOCH == pytest.approx(0.5)  # the first backoff window, not -30 s


def test_a_429_storm_stops_after_five_retries(clock: FakeClock) -> None:
    script = Script(limited(Retry_After="10"))
    with sync_client(script, clock) as client, pytest.raises(RateLimited) as caught:
        client.get(URL)
    assert script.calls == 6
    assert clock() - EPOCH == 50
    assert caught.value.retries == 5 and caught.value.waited == 50
    assert "after 5 retries" in str(caught.value)


def test_a_429_storm_stops_at_the_budget(clock: FakeClock) -> None:
    script = Script(limited(Retry_After="30"))
    with sync_client(script, clock) as client, pytest.raises(RateLimited) as caught:
        client.get(URL)
    assert clock() - EPOCH == 120  # four waits of 30 s; a fifth would pass 120 s
    assert script.calls == 5
    assert "budget of 120 s" in str(caught.value)


def test_connection_errors_back_off_exponentially_then_succeed(clock: FakeClock) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ConnectError("refused"), ok())
    with sync_client(script, clock) as client:
        assert client.get(URL).status_code == 200
    assert clock() - EPOCH == pytest.approx(0.5 + 1.0)


def test_connection_errors_past_the_retries_raise_httpx_own_error(clock: FakeClock) -> None:
    script = Script(httpx.ConnectError("refused"))
    with sync_client(script, clock) as client, pytest.raises(httpx.ConnectError):
        client.get(URL)
    assert script.calls == 6
    assert clock() - EPOCH == pytest.approx(0.5 + 1 + 2 + 4 + 8)


def test_backoff_is_capped_by_the_longest_wait(clock: FakeClock) -> None:
    script = Script(httpx.ConnectError("refused"))
    policy = RetryPolicy(max_retries=3, backoff=50, max_wait=60, budget=1000)
    with sync_client(script, clock, policy) as client, pytest.raises(httpx.ConnectError):
        client.get(URL)
    assert clock() - EPOCH == pytest.approx(50 + 60 + 60)


def test_jitter_draws_from_zero_to_the_window(clock: FakeClock) -> None:
    draws: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        draws.append((low, high))
        return low

    script = Script(httpx.ConnectError("refused"), httpx.ConnectError("refused"), ok())
    transport = RetryTransport(
        httpx.MockTransport(script), now=clock, sleep=clock.advance, jitter=jitter
    )
    with httpx.Client(transport=transport) as client:
        client.get(URL)
    assert draws == [(0.0, 0.5), (0.0, 1.0)]


def test_post_is_never_retried_unless_the_caller_opts_in(clock: FakeClock) -> None:
    script = Script(limited(Retry_After="1"), ok())
    with sync_client(script, clock) as client:
        assert client.post(URL, json={"a": 1}).status_code == 429
    assert script.calls == 1

    script = Script(limited(Retry_After="1"), ok())
    policy = RetryPolicy(methods={"GET", "POST"})
    with sync_client(script, clock, policy) as client:
        assert client.post(URL, json={"a": 1}).status_code == 200
    assert script.calls == 2


def test_a_body_that_cannot_be_sent_twice_is_not_retried(clock: FakeClock) -> None:
    script = Script(limited(Retry_After="1"), ok())

    def chunks() -> Iterator[bytes]:
        yield b"{}"

    with sync_client(script, clock) as client:
        assert client.put(URL, content=chunks()).status_code == 429
    assert script.calls == 1


def test_retries_off_with_no_retries(clock: FakeClock) -> None:
    script = Script(limited(Retry_After="1"), ok())
    with sync_client(script, clock, RetryPolicy(max_retries=0)) as client:
        assert client.get(URL).status_code == 429


def test_a_wait_is_told_to_the_listener(clock: FakeClock) -> None:
    heard: list[tuple[float, str]] = []
    script = Script(limited(Retry_After="12"), ok())
    with sync_client(script, clock) as client, on_wait(lambda s, why: heard.append((s, why))):
        client.get(URL)
    assert heard == [(12.0, "rate limited")]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("120", 120.0),
        ("-5", None),
        ("soon", None),
        ("1.5", None),
        (email.utils.formatdate(EPOCH + 90, usegmt=True), 90.0),
        (email.utils.formatdate(EPOCH - 90, usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, EPOCH) == (
        None if seconds is None else pytest.approx(seconds)
    )


@pytest.mark.parametrize(
    "bad",
    [{"max_retries": -1}, {"max_wait": -1}, {"budget": "1"}, {"methods": "GET"}],
)
def test_a_bad_policy_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        RetryPolicy(**bad)  # type: ignore[arg-type]


# -- async ------------------------------------------------------------------------------------


def async_client(script: Script, clock: FakeClock) -> httpx.AsyncClient:
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    transport = AsyncRetryTransport(
        httpx.MockTransport(script), name="crm", now=clock, sleep=sleep, jitter=upper
    )
    return httpx.AsyncClient(transport=transport)


@pytest.mark.anyio
async def test_async_retry_after_waits_then_retries(clock: FakeClock) -> None:
    script = Script(limited(Retry_After="3"), httpx.ConnectError("reset"), ok())
    async with async_client(script, clock) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert script.calls == 3
    assert clock() - EPOCH == pytest.approx(3 + 1.0)  # Retry-After, then the second backoff


@pytest.mark.anyio
async def test_async_storm_raises_rate_limited(clock: FakeClock) -> None:
    script = Script(limited(Retry_After="10"))
    async with async_client(script, clock) as client:
        with pytest.raises(RateLimited):
            await client.get(URL)
    assert script.calls == 6


def test_default_async_sleep_is_anyio(clock: FakeClock) -> None:
    # Retry-After: 0 with the real default sleep: works on asyncio without a fake.
    script = Script(limited(Retry_After="0"), ok())

    async def main() -> int:
        transport = AsyncRetryTransport(httpx.MockTransport(script), now=clock)
        async with httpx.AsyncClient(transport=transport) as client:
            return (await client.get(URL)).status_code

    assert anyio.run(main) == 200
    assert script.calls == 2


def test_a_request_answered_at_once_never_loads_the_retry_library() -> None:
    # The layer's whole cost on a request that is not retried is a method and a status check;
    # tenacity (and pandas and tqdm, for pulls) load only when needed.
    import subprocess
    import sys

    code = (
        "import sys, httpx, nb_oauth\n"
        "from nb_oauth.retries import RetryTransport\n"
        "nb_oauth.fetch_all, nb_oauth.RetryPolicy\n"
        "t = RetryTransport(httpx.MockTransport(lambda r: httpx.Response(200)))\n"
        "with httpx.Client(transport=t) as c: c.get('https://a.test/')\n"
        "print(sorted(m for m in ('tenacity', 'pandas', 'tqdm') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
