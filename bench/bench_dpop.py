"""Benchmark what DPoP and private_key_jwt cost through nb_oauth (SPEC section 14, issue 18).

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/bench_dpop.py

Side by side in one run, against ``loopback_server.py`` in its own process on 127.0.0.1:

* steady state: sequential GETs with the token held, a bearer datasource and a ``dpop=True`` one
  over the same loopback API, rounds interleaved; the median time per request and the ratio
  DPoP / bearer (goal: at most 1.15). The server does not verify proofs: the figure is the
  client's cost (one ES256 signature and a header per request);
* one signature: the time of one DPoP proof (ES256), and of one private_key_jwt client assertion
  (ES256 and RS256) beside building a client_secret_basic token request: a private_key_jwt token
  request costs one signature more, nothing else (no I/O: the builders are pure).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

sys.path.insert(0, str(Path(__file__).parent))

from bench_client import CLIENT_ID, CLIENT_SECRET, Server  # noqa: E402

import nb_oauth  # noqa: E402
from nb_oauth.grants.dpop import load_dpop_key, new_dpop_key, proof  # noqa: E402
from nb_oauth.grants.token_requests import client_credentials_request  # noqa: E402
from nb_oauth.oauth2_auth import OAuth2Auth  # noqa: E402
from nb_oauth.secret import Secret  # noqa: E402

ROUND_BUDGET_S = 3.0


def _client(base: str, *, dpop: bool) -> httpx.Client:
    session = nb_oauth.Session()
    ds = nb_oauth.Datasource(name="bench", grant="client_credentials", token_url=f"{base}/token",
                             client_id=CLIENT_ID, base_url=base, dpop=dpop)
    nb_oauth.save(ds, client_secret=CLIENT_SECRET, session=session)
    return nb_oauth.client("bench", session=session)


def _in_memory_twin(client: httpx.Client) -> httpx.Client:
    """A client of the same datasource and token whose API answers from memory: what a request
    costs the client alone, without the server and the sockets (the wall-clock figure has both
    processes on a 2-core machine)."""
    auth = client.auth
    assert isinstance(auth, OAuth2Auth)
    answer = httpx.Response(200, content=b'{"items": []}',
                            headers={"Content-Type": "application/json"})
    return httpx.Client(auth=auth, base_url=client.base_url,
                        transport=httpx.MockTransport(lambda request: answer))


def _per_request(client: httpx.Client, n: int) -> float:
    start, done = time.perf_counter(), 0
    while done < n and time.perf_counter() - start < ROUND_BUDGET_S:
        client.get("/api/data").raise_for_status()
        done += 1
    return (time.perf_counter() - start) / done


def _per_call(call: Callable[[], object], n: int = 2000) -> float:
    call()
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n


def _pem(key: object) -> str:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="GETs per round")
    parser.add_argument("--rounds", type=int, default=11, help="rounds; the median is reported")
    args = parser.parse_args(argv)

    server = Server()
    try:
        server.long_lived()
        clients = {"bearer": _client(server.base, dpop=False),
                   "dpop": _client(server.base, dpop=True)}
        for client in clients.values():
            _per_request(client, 50)  # warm up: token fetched, connection open
        assert clients["dpop"].get("/api/data").request.headers["Authorization"].startswith(
            "DPoP ")
        twins = {name: _in_memory_twin(client) for name, client in clients.items()}
        timings: dict[str, list[float]] = {name: [] for name in clients}
        in_memory: dict[str, list[float]] = {name: [] for name in clients}
        order = list(clients)
        for _ in range(args.rounds):
            order.reverse()  # each goes first in every other round
            for name in order:
                timings[name].append(_per_request(clients[name], args.requests))
                in_memory[name].append(_per_request(twins[name], args.requests))
        for client in (*clients.values(), *twins.values()):
            client.close()
    finally:
        server.close()
    bearer, dpop = (statistics.median(timings[n]) for n in ("bearer", "dpop"))
    print(f"steady state, {args.requests} sequential GETs x {args.rounds} rounds (median):")
    print(f"  bearer  {bearer * 1e6:8.1f} us/request")
    print(f"  dpop    {dpop * 1e6:8.1f} us/request   ratio {dpop / bearer:.3f} (goal <= 1.15)")
    bearer_cpu, dpop_cpu = (statistics.median(in_memory[n]) for n in ("bearer", "dpop"))
    print("the client alone, the API answering from memory (median):")
    print(f"  bearer  {bearer_cpu * 1e6:8.1f} us/request")
    print(f"  dpop    {dpop_cpu * 1e6:8.1f} us/request   +{(dpop_cpu - bearer_cpu) * 1e6:.1f} us")

    key = load_dpop_key(new_dpop_key(), datasource="bench")
    url = "http://127.0.0.1:1/api/data"
    print("one signature:")
    print(f"  DPoP proof (ES256, with ath)          "
          f"{_per_call(lambda: proof(key, 'GET', url, access_token='bench-1')) * 1e6:8.1f} us")
    base = nb_oauth.Datasource(name="b", grant="client_credentials", client_id="c",
                               token_url="https://as.example/token")
    secret = Secret(CLIENT_SECRET)
    basic = _per_call(lambda: client_credentials_request(base, secret))
    print(f"  token request, client_secret_basic    {basic * 1e6:8.1f} us")
    for name, native in (("ES256", ec.generate_private_key(ec.SECP256R1())),
                         ("RS256", rsa.generate_private_key(public_exponent=65537,
                                                            key_size=2048))):
        ds = base.replace(client_auth="private_key_jwt")
        pem = Secret(_pem(native))
        signed = _per_call(lambda ds=ds, pem=pem: client_credentials_request(ds, pem), 300)
        print(f"  token request, private_key_jwt {name}  {signed * 1e6:8.1f} us "
              f"(+{(signed - basic) * 1e6:.0f} us: the key is read and one assertion signed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
