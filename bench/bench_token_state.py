"""The token state under load: kernels that share a datasource, and an asyncio storm.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/bench_token_state.py

* kernels: the demo provider (refresh token rotation on, short-lived tokens) and one datasource
  kept in a real file keyring that every "kernel" (a separate Python process) reads. First one
  kernel loops on the API for a while, then four kernels loop at once for as long. The figure is
  refreshes per expiry: the refresh requests the provider saw with four kernels, divided by those it
  saw with one kernel over the same time (which is one per expiry by construction). The ideal is
  1.00, with 0 failed calls.
* stall: a token that has expired, then 100 asyncio tasks call the API at once on one
  `httpx.AsyncClient`; a ticker task measures how long the event loop went without running it
  (the longest gap past its 1 ms sleep) while the requests start. The token endpoint and the API
  take 200 ms to answer, so the first 180 ms hold no response handling: only the work of starting
  100 requests, which raw httpx (no OAuth, same run) pays too, plus nb_oauth's 100 tasks queueing
  for one renewal. The auth's own part is also measured alone: 100 requests entering
  `OAuth2Auth.async_auth_flow` while one renewal is pending, run until they all wait (one loop
  iteration, so its length is the stall they cause). That last figure is the one to hold.

Wall-clock time is real here (tokens expire while the kernels run); the test suite injects clocks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client import Server  # noqa: E402  (the benchmark's own loopback server)

KERNEL = textwrap.dedent(
    """
    import json, sys, time, warnings
    import httpx
    import nb_oauth
    from nb_oauth.store.keyring_store import KeyringStore

    warnings.simplefilter("ignore", nb_oauth.SecurityWarning)  # the rig's plaintext keyring
    session = nb_oauth.Session(KeyringStore())
    calls = failures = 0
    deadline = time.monotonic() + float(sys.argv[1])
    with session.client("shared") as api:
        while time.monotonic() < deadline:
            calls += 1
            try:
                if api.get("/api/me").status_code != 200:
                    failures += 1
            except (httpx.HTTPError, nb_oauth.NbOAuthError):
                failures += 1
    print(json.dumps({"calls": calls, "failures": failures}))
    """
)


def _environment(root: Path) -> dict[str, str]:
    """A real file keyring (keyrings.alt), selected through keyring's own configuration."""
    config = root / "xdg_config" / "python_keyring"
    config.mkdir(parents=True)
    (config / "keyringrc.cfg").write_text(
        "[backend]\ndefault-keyring=keyrings.alt.file.PlaintextKeyring\n"
    )
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NB_OAUTH_", "PYTHON_K"))},
        "XDG_CONFIG_HOME": str(root / "xdg_config"),
        "XDG_DATA_HOME": str(root / "xdg_data"),
        "NB_OAUTH_HOME": str(root / "home"),
        "NB_OAUTH_ALLOW_PLAINTEXT": "1",  # the plaintext file backend: a benchmark rig only
    }


def _connect(provider: object, env: dict[str, str]) -> None:
    """Save the shared datasource and sign in once, in a process of its own (it reads `env`)."""
    script = textwrap.dedent(
        f"""
        import warnings
        import nb_oauth
        from nb_oauth.consent.flow import connect
        from nb_oauth.demo.browser import approve
        from nb_oauth.store.keyring_store import KeyringStore

        class Quiet:
            def waiting(self, sign_in): pass
            def finished(self, message): pass
            def ended(self): pass

        warnings.simplefilter("ignore")
        session = nb_oauth.Session(KeyringStore())
        ds = nb_oauth.Datasource(
            name="shared", token_url={provider.token_url!r},  # type: ignore[attr-defined]
            authorization_url={provider.authorization_url!r},  # type: ignore[attr-defined]
            client_id="demo-basic", scopes="profile", base_url={provider.api_url!r},
        )
        session.save(ds, client_secret="demo-basic-secret")
        connect(session, "shared", view=Quiet(), open_url=lambda url: approve(url) == 200)
        """
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


def _run_kernels(count: int, seconds: float, env: dict[str, str]) -> tuple[int, int]:
    """(calls, failed calls) of `count` kernels looping for `seconds`."""
    kernels = [
        subprocess.Popen(
            [sys.executable, "-c", KERNEL, str(seconds)], env=env, stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = [json.loads(kernel.communicate(timeout=seconds + 60)[0]) for kernel in kernels]
    return sum(r["calls"] for r in results), sum(r["failures"] for r in results)


def kernels(seconds: float, lifetime: int) -> dict[str, float]:
    from nb_oauth.demo import DemoProvider

    with tempfile.TemporaryDirectory() as tmp, DemoProvider(token_lifetime=lifetime) as provider:
        env = _environment(Path(tmp))
        _connect(provider, env)
        def refreshes() -> int:
            return int(provider.counters.get("token:refresh_token", 0))

        before = refreshes()
        calls_one, failures_one = _run_kernels(1, seconds, env)
        one = refreshes() - before
        before = refreshes()
        calls_four, failures_four = _run_kernels(4, seconds, env)
        four = refreshes() - before
    return {
        "refreshes, 1 kernel": one,
        "refreshes, 4 kernels": four,
        "refreshes per expiry": four / one if one else float("nan"),
        "calls, 4 kernels": calls_four,
        "failures, 4 kernels": failures_four,
        "failures, 1 kernel": failures_one,
        "calls, 1 kernel": calls_one,
    }


async def _stalls(client: httpx.AsyncClient, tasks: int) -> list[tuple[float, float]]:
    """Run `tasks` concurrent GETs while a ticker records the event loop's gaps, as (seconds
    since the storm started, gap past the ticker's 1 ms sleep)."""
    gaps: list[tuple[float, float]] = []
    done = asyncio.Event()
    started = time.perf_counter()

    async def ticker() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            after = time.perf_counter()
            gaps.append((after - started, after - before - 0.001))

    async def one() -> None:
        (await client.get("/api/data")).raise_for_status()

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)  # the ticker runs before the storm starts
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(tasks)))
    done.set()
    await tick
    return [(at, gap) for at, gap in gaps if at >= 0]


#: The token endpoint and the API answer after 200 ms (POST /slow): in the first 180 ms no answer
#: has arrived, so the gaps are the work of starting 100 requests (httpx's, and nb_oauth's: 100
#: tasks queueing for one renewal), not of handling responses.
WINDOW_S = 0.18


def stall(tasks: int, repeats: int) -> dict[str, float]:
    from bench_client import _nb_oauth_async, _raw_async

    server = Server()
    renewal: list[float] = []
    baseline: list[float] = []
    try:
        for _ in range(repeats):
            for name, make in (("raw httpx", _raw_async), ("nb_oauth", _nb_oauth_async)):
                loop = asyncio.new_event_loop()
                try:
                    server.reset()
                    client = make(server.base)
                    # Warm: a token (1 s) held and a pool of open connections, so the storm
                    # measures the auth's work, not connection set-up.
                    loop.run_until_complete(_stalls(client, tasks))
                    server.long_lived()
                    httpx.post(f"{server.base}/slow")
                    time.sleep(1.2)  # the token has expired
                    gaps = loop.run_until_complete(_stalls(client, tasks))
                    window = max(gap for at, gap in gaps if at <= WINDOW_S)
                    (renewal if name == "nb_oauth" else baseline).append(window)
                    loop.run_until_complete(client.aclose())
                finally:
                    loop.close()
    finally:
        server.close()

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    own = [asyncio.run(_auth_only(tasks)) for _ in range(repeats)]
    return {
        "nb_oauth, while they start": median(renewal),
        "raw httpx, while they start": median(baseline),
        "nb_oauth's auth flow alone": median(own),
    }


async def _auth_only(tasks: int) -> float:
    """The auth's own part of a storm: `tasks` requests enter `OAuth2Auth.async_auth_flow` on an
    expired token while one renewal is pending; the seconds the event loop spends running them
    until they all wait (one loop iteration, so this is the stall they cause)."""
    import nb_oauth
    from nb_oauth.store import MemoryStore
    from nb_oauth.tokens import TokenSet

    clock = [1_000_000.0]
    store = MemoryStore()
    ds = nb_oauth.Datasource(name="storm", token_url="https://as.example/token",
                             authorization_url="https://as.example/authorize", client_id="c",
                             base_url="https://api.example")
    store.save_datasource(ds)
    store.save_tokens("storm", TokenSet(access_token=nb_oauth.Secret("old"),
                                        refresh_token=nb_oauth.Secret("r"),
                                        expires_at=clock[0] - 1, obtained_at=clock[0] - 3600))
    auth = nb_oauth.OAuth2Auth(ds, store=store, now=lambda: clock[0])
    first = auth.async_auth_flow(httpx.Request("GET", "https://api.example/x"))
    token_request = await first.__anext__()  # the renewal is now pending, holding the locks
    assert "token" in str(token_request.url)
    flows = [auth.async_auth_flow(httpx.Request("GET", "https://api.example/x"))
             for _ in range(tasks)]
    started = [asyncio.ensure_future(flow.__anext__()) for flow in flows]
    begin = time.perf_counter()
    await asyncio.sleep(0)  # one iteration: every task runs until it waits for the lock
    spent = time.perf_counter() - begin
    assert not any(task.done() for task in started)
    for task in started:
        task.cancel()
    await asyncio.gather(*started, return_exceptions=True)
    await first.aclose()
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the kernels loop")
    parser.add_argument("--lifetime", type=int, default=4, help="access token lifetime (s)")
    parser.add_argument("--tasks", type=int, default=100, help="concurrent tasks in the storm")
    parser.add_argument("--repeats", type=int, default=5, help="storm repeats; the median is shown")
    args = parser.parse_args(argv)

    shared = kernels(args.seconds, args.lifetime)
    stalls = stall(args.tasks, args.repeats)
    print(f"kernels: 1, then 4, looping {args.seconds:g} s each on one datasource; "
          f"tokens live {args.lifetime} s, refresh token rotation on")
    for key, value in shared.items():
        print(f"  {key:<22} {value:.2f}" if isinstance(value, float) else f"  {key:<22} {value}")
    print(f"storm: {args.tasks} asyncio tasks on an expired token, longest event-loop stall "
          f"while they start (median of {args.repeats})")
    for name, value in stalls.items():
        print(f"  {name:<34} {value * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
