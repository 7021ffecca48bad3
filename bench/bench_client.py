"""Benchmark nb_oauth's authenticated client against raw httpx and peer OAuth libraries.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/bench_client.py

Everything talks to ``loopback_server.py`` in a separate process on 127.0.0.1, in the same run, so
the numbers are comparable as ratios even though absolute times depend on the machine:

* overhead: 2,000 sequential GETs after the token is held; median time per request over several
  rounds (contenders interleaved within each round), and its ratio to raw httpx with a static
  ``Authorization`` header;
* storm: the held token has expired, then 100 requests start at once (threads on one
  ``httpx.Client``, or asyncio tasks on one ``httpx.AsyncClient``); how many token requests and
  how many failed requests that causes. The ideal is 1 and 0.

The storm waits 1.2 s of wall-clock time for the first token to expire: the peers read the system
clock, so a fake clock cannot be injected into them (the test suite injects one into nb_oauth).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"


@dataclass
class Contender:
    name: str
    sync: Callable[[str], httpx.Client] | None
    async_: Callable[[str], httpx.AsyncClient] | None
    oauth: bool = True  # False for the raw-httpx baseline, which has no token to refresh


def _raw_sync(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": "Bearer static"})


def _raw_async(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer static"})


def _nb_oauth_session(base: str) -> Any:
    """A fresh session (in-memory store) per client, so no token is shared between runs."""
    import nb_oauth

    session = nb_oauth.Session()
    ds = nb_oauth.Datasource(
        name="bench",
        grant="client_credentials",
        token_url=f"{base}/token",
        client_id=CLIENT_ID,
        base_url=base,
    )
    nb_oauth.save(ds, client_secret=CLIENT_SECRET, session=session)
    return session


def _nb_oauth_sync(base: str) -> httpx.Client:
    import nb_oauth

    return nb_oauth.client("bench", session=_nb_oauth_session(base))


def _nb_oauth_async(base: str) -> httpx.AsyncClient:
    import nb_oauth

    return nb_oauth.async_client("bench", session=_nb_oauth_session(base))


def _authlib_kwargs(base: str) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_endpoint": f"{base}/token",
        "grant_type": "client_credentials",
        "base_url": base,
    }


def _authlib_sync(base: str) -> httpx.Client:
    from authlib.integrations.httpx_client import OAuth2Client

    client = OAuth2Client(**_authlib_kwargs(base))
    client.fetch_token()
    return client


def _authlib_async(base: str) -> httpx.AsyncClient:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    client = AsyncOAuth2Client(**_authlib_kwargs(base))
    asyncio.get_event_loop().run_until_complete(client.fetch_token())
    return client


def _httpx_auth(base: str) -> Any:
    import httpx_auth

    httpx_auth.OAuth2.token_cache.clear()  # its cache is process-wide
    return httpx_auth.OAuth2ClientCredentials(f"{base}/token", CLIENT_ID, CLIENT_SECRET)


def _httpx_auth_sync(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, auth=_httpx_auth(base))


def _httpx_auth_async(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, auth=_httpx_auth(base))


CONTENDERS = [
    Contender("raw httpx (static header)", _raw_sync, _raw_async, oauth=False),
    Contender("nb_oauth", _nb_oauth_sync, _nb_oauth_async),
    Contender("Authlib OAuth2Client", _authlib_sync, _authlib_async),
    Contender("httpx-auth OAuth2ClientCredentials", _httpx_auth_sync, _httpx_auth_async),
]


class Server:
    """loopback_server.py in a child process."""

    def __init__(self) -> None:
        script = Path(__file__).with_name("loopback_server.py")
        self.process = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.base = f"http://127.0.0.1:{self.process.stdout.readline().strip()}"

    def reset(self) -> None:
        """From now on tokens live 1 s."""
        httpx.post(f"{self.base}/reset")

    def long_lived(self) -> None:
        """From now on tokens live an hour."""
        httpx.post(f"{self.base}/long")

    def stats(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.base}/stats").json())

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# -- per-request overhead --------------------------------------------------------------------------


# A contender that is far slower than the others gets fewer requests per round, so that one slow
# peer cannot stretch the run to many minutes; its per-request time stays a fair median.
ROUND_BUDGET_S = 3.0


def _time_sync(client: httpx.Client, n: int) -> float:
    start, done = time.perf_counter(), 0
    while done < n and time.perf_counter() - start < ROUND_BUDGET_S:
        client.get("/api/data").raise_for_status()
        done += 1
    return (time.perf_counter() - start) / done


async def _time_async(client: httpx.AsyncClient, n: int) -> float:
    start, done = time.perf_counter(), 0
    while done < n and time.perf_counter() - start < ROUND_BUDGET_S:
        (await client.get("/api/data")).raise_for_status()
        done += 1
    return (time.perf_counter() - start) / done


def overhead(server: Server, requests: int, rounds: int) -> dict[tuple[str, str], list[float]]:
    """Seconds per request, per (mode, contender), one value per round."""
    server.long_lived()
    results: dict[tuple[str, str], list[float]] = {}
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        sync_clients = {c.name: c.sync(server.base) for c in CONTENDERS if c.sync}
        async_clients = {c.name: c.async_(server.base) for c in CONTENDERS if c.async_}
        for client in sync_clients.values():
            _time_sync(client, 50)  # warm up: token fetched, connection open
        for aclient in async_clients.values():
            loop.run_until_complete(_time_async(aclient, 50))
        for _ in range(rounds):
            for name, client in sync_clients.items():
                results.setdefault(("sync", name), []).append(_time_sync(client, requests))
            for name, aclient in async_clients.items():
                per = loop.run_until_complete(_time_async(aclient, requests))
                results.setdefault(("async", name), []).append(per)
        for client in sync_clients.values():
            client.close()
        for aclient in async_clients.values():
            loop.run_until_complete(aclient.aclose())
    finally:
        loop.close()
    return results


# -- refresh storm ---------------------------------------------------------------------------------


def _storm_sync(client: httpx.Client, n: int) -> int:
    barrier = threading.Barrier(n)

    def one(_: int) -> bool:
        barrier.wait()
        try:
            return client.get("/api/data").status_code == 200
        except Exception:  # noqa: BLE001 - a benchmark counts failures, whatever they are
            return False

    with ThreadPoolExecutor(max_workers=n) as pool:
        return sum(not ok for ok in pool.map(one, range(n)))


async def _storm_async(client: httpx.AsyncClient, n: int) -> int:
    async def one() -> bool:
        try:
            return (await client.get("/api/data")).status_code == 200
        except Exception:  # noqa: BLE001
            return False

    return sum(not ok for ok in await asyncio.gather(*(one() for _ in range(n))))


def storm(server: Server, contender: Contender, mode: str, n: int) -> tuple[int, int]:
    """(token requests caused by the storm, failed requests)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        server.reset()
        if mode == "sync":
            assert contender.sync is not None
            client = contender.sync(server.base)
            client.get("/api/data")  # now holds a token that lives 1 s
            server.long_lived()
            time.sleep(1.2)
            before = server.stats()["token_requests"]
            failures = _storm_sync(client, n)
            client.close()
        else:
            assert contender.async_ is not None
            aclient = contender.async_(server.base)
            loop.run_until_complete(aclient.get("/api/data"))
            server.long_lived()
            time.sleep(1.2)
            before = server.stats()["token_requests"]
            failures = loop.run_until_complete(_storm_async(aclient, n))
            loop.run_until_complete(aclient.aclose())
    finally:
        loop.close()
    return server.stats()["token_requests"] - before, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds; the median is reported")
    parser.add_argument("--storm", type=int, default=100, help="concurrent requests in the storm")
    args = parser.parse_args(argv)

    server = Server()
    try:
        timings = overhead(server, args.requests, args.rounds)
        storms = {
            (mode, c.name): storm(server, c, mode, args.storm)
            for c in CONTENDERS
            if c.oauth
            for mode in ("sync", "async")
        }
    finally:
        server.close()

    print(
        f"per-request time: {args.requests} sequential GETs x {args.rounds} rounds (median); "
        f"storm: {args.storm} concurrent requests on an expired token\n"
    )
    print(
        f"| {'mode':<5} | {'client':<35} | {'µs/request':>10} | {'ratio to raw':>12} "
        f"| {'storm token requests':>20} | {'storm failures':>14} |"
    )
    print(f"|{'-' * 7}|{'-' * 37}|{'-' * 12}:|{'-' * 13}:|{'-' * 21}:|{'-' * 15}:|")
    for mode in ("sync", "async"):
        raw = statistics.median(timings[(mode, CONTENDERS[0].name)])
        for c in CONTENDERS:
            per = statistics.median(timings[(mode, c.name)])
            tokens, failures = storms.get((mode, c.name), ("n/a", "n/a"))
            print(
                f"| {mode:<5} | {c.name:<35} | {per * 1e6:>10.1f} | {per / raw:>12.3f} "
                f"| {tokens:>20} | {failures:>14} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
