"""``nb-oauth demo``: the whole nb_oauth story in a terminal, against the demo provider.

Configure a datasource, give consent in a browser tab (or let a stand-in browser do it with
``--headless``), call the API, pull a whole paginated collection into a DataFrame, jump the clock
to just before the access token expires and watch
the client refresh it by itself, then disconnect. The provider and the client share an adjustable
clock, so the demo takes seconds, not an hour, and nothing is written to disk or to the keyring.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from nb_oauth.consent.flow import SignInLink, connect, disconnect, open_in_new_tab
from nb_oauth.datasource import Datasource
from nb_oauth.demo.browser import approve
from nb_oauth.demo.provider import DemoProvider
from nb_oauth.errors import ReauthRequired
from nb_oauth.fetch import fetch_pages, pandas_missing
from nb_oauth.session import Session
from nb_oauth.tokens import human_duration

__all__ = ["AdjustableClock", "run_story"]

TOKEN_LIFETIME_S = 3600


class AdjustableClock:
    """Wall-clock time plus an offset the demo moves forward; provider and client share it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += seconds


def run_story(*, headless: bool, timeout: float, say: Callable[[str], None] = print) -> None:
    """Run the demo from start to end; raises on the first failure (the CLI makes it one line)."""
    clock = AdjustableClock()
    # Polls every second for the device step: a demo should not make anyone wait 5 s.
    with DemoProvider(token_lifetime=TOKEN_LIFETIME_S, now=clock, device_interval=1) as provider:
        say(f"[1/8] Demo provider running: issuer {provider.issuer}, API {provider.api_url}")
        session = Session(now=clock)  # in memory only: the demo leaves nothing behind
        # Only the API's URL: its protected resource metadata (RFC 9728) names the issuer, the
        # issuer's metadata (RFC 8414) gives the endpoints, and a public client is registered
        # (RFC 7591), as an MCP client would do.
        session.save(
            Datasource(name="demo", base_url=provider.api_url, scopes="profile,items:read")
        )
        ds = session.datasource("demo")
        say(
            f"[2/8] Datasource 'demo' saved from the API URL alone: its metadata named the issuer "
            f"{ds.issuer}, the endpoints, and registered the public client {ds.client_id[:8]}...; "
            "authorization code with PKCE, scopes profile items:read"
        )

        say("[3/8] Consent: " + ("a stand-in browser approves" if headless else "your browser"))
        result = connect(
            session,
            "demo",
            view=_StoryView(say),
            timeout=timeout,
            open_url=_headless_tab if headless else _browser_or_headless(say),
        )

        with session.client("demo") as api:
            me = api.get("/api/me").json()
            items = api.get("/api/items", params={"per_page": 3}).json()
            names = ", ".join(item["name"] for item in items["items"])
            say(
                f"[4/8] API calls with the token attached: /api/me -> {me['name']}; "
                f"/api/items -> {names} (of {items['total']})"
            )

            say("[5/8] " + _whole_collection(api))

            expires_in = result.expires_in or TOKEN_LIFETIME_S
            jump = expires_in - 30  # inside the 60 s refresh leeway
            clock.jump(jump)
            api.get("/api/me").raise_for_status()
            refreshes = provider.counters.get("token:refresh_token", 0)
            say(
                f"[6/8] Clock moved {human_duration(jump)} ahead, 30 s before expiry: the next "
                f"call refreshed the token by itself ({refreshes} refresh, rotation on) and worked"
            )

        outcome = disconnect(session, "demo")
        try:
            with session.client("demo") as api:
                api.get("/api/me")
            after = "the API still answered (unexpected)"
        except ReauthRequired as exc:
            after = f"the next call says: {exc}"
        say(f"[7/8] {outcome}; {after}")
        _device_story(session, provider, headless=headless, timeout=timeout, say=say)
        _key_pair_story(session, provider, say=say)
    say("Demo finished: the provider is stopped and nothing was written to disk or keyring.")


def _whole_collection(api: httpx.Client) -> str:
    """Pull the demo's paginated records (Slack-style cursors) into a DataFrame, or a list when
    pandas is missing (then say how to install it)."""
    missing = pandas_missing()
    records = fetch_pages(
        api, "/api/records/cursor", params={"limit": 50}, df=missing is None, progress=False,
        name="demo",
    )  # fmt: skip
    pulled = f"/api/records/cursor, 50 a page, cursor after cursor -> {len(records)} records"
    if missing is not None:
        return f"Whole collection: {pulled} as a list; no DataFrame: {missing}"
    totals = records.groupby("category")["amount"].sum().round(2)
    summary = ", ".join(f"{category} {total:g}" for category, total in totals.items())
    rows, columns = records.shape
    return (
        f"Whole collection: {pulled} in a DataFrame ({rows} rows x {columns} columns, nested "
        f"owner.team as a column); amount by category: {summary}"
    )


def _device_story(
    session: Session, provider: DemoProvider, *, headless: bool, timeout: float,
    say: Callable[[str], None],
) -> None:
    """The same API from a kernel the browser cannot reach (JupyterHub, SSH, a container): the
    device grant, a short code entered on any device, no redirect back."""
    session.save(Datasource(
        name="demo-device", grant="device_code", issuer=provider.issuer,
        base_url=provider.api_url, scopes="profile,items:read",
    ))
    say("[8/8] Where the browser cannot reach the kernel: datasource 'demo-device' with "
        "grant='device_code' (RFC 8628)")
    connect(
        session,
        "demo-device",
        view=_StoryView(say),
        timeout=timeout,
        open_url=_headless_tab if headless else _browser_or_headless(say),
    )
    with session.client("demo-device") as api:
        say(f"      /api/me -> {api.get('/api/me').json()['name']}")


def _key_pair_story(
    session: Session, provider: DemoProvider, *, say: Callable[[str], None]
) -> None:
    """A client with a key pair instead of a secret (private_key_jwt, RFC 7523) whose tokens are
    bound to a second key (DPoP, RFC 9449): what enterprise servers ask for."""
    from nb_oauth.grants.signing import generate_key, private_pem

    key = generate_key()  # a security team would hand this over; its public half is registered
    provider.register_public_key("demo-key-client", key.public_jwk())
    session.save(
        Datasource(name="demo-key", grant="client_credentials", token_url=provider.token_url,
                   client_id="demo-key-client", client_auth="private_key_jwt", dpop=True,
                   base_url=provider.api_url),
        private_key=private_pem(key),
    )
    with session.client("demo-key") as api:
        name = api.get("/api/me").json()["name"]
    tokens = session.store.load_tokens("demo-key")
    kind = tokens.token_type if tokens else "?"
    say(f"Also, a key pair instead of a secret: 'demo-key' signs its token requests with key "
        f"{key.thumbprint[:12]}... (private_key_jwt), and its {kind} token is bound to a second "
        f"key proven on every call (DPoP): /api/me -> {name}")


def _headless_tab(url: str) -> bool:
    return approve(url) == 200


def _browser_or_headless(say: Callable[[str], None]) -> Callable[[str], bool]:
    def open_url(url: str) -> bool:
        if open_in_new_tab(url):
            say("      Approve in the browser tab that opened (the link above works too).")
            return True
        say("      No browser could be opened here, so a stand-in browser approves instead.")
        return _headless_tab(url)

    return open_url


class _StoryView:
    """The consent view of the story: by the time it is called, ``open_url`` has already said
    which browser has the consent page, so it only adds the link and the outcome."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    def waiting(self, sign_in: SignInLink) -> None:
        if sign_in.is_device_code:
            self._say(
                f"      Enter the code {sign_in.user_code} at {sign_in.verification_uri} "
                f"(waiting up to {sign_in.timeout:g} s; with the code filled in: {sign_in.url})"
            )
            return
        self._say(f"      Consent page (waiting up to {sign_in.timeout:g} s): {sign_in.url}")

    def finished(self, message: str) -> None:
        self._say(f"      {message}")

    def ended(self) -> None:
        pass  # the CLI reports the error, once
