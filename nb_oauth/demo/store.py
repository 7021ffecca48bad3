"""In-memory records of the demo provider: clients, authorization codes, tokens and counters.

The classes implement the model interfaces that Authlib's server grants expect
(``ClientMixin``, ``AuthorizationCodeMixin``, ``TokenMixin``). Nothing here is persisted: the demo
provider forgets everything when it stops, which is exactly what tests and newcomers want.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

__all__ = ["DEMO_USER", "DemoClient", "DemoStore", "IssuedCode", "IssuedToken", "demo_clients"]

#: The one resource owner of the demo provider; consent is given on their behalf.
DEMO_USER = {"sub": "demo-user", "name": "Demo User", "email": "demo@example.invalid"}

#: Scopes the demo provider knows. ``offline_access`` is accepted for realism (RFC 6749 has no such
#: scope; OpenID Connect and many providers use it to ask for a refresh token).
SCOPES = ("profile", "items:read", "items:write", "offline_access")
DEFAULT_SCOPES = ("profile", "items:read")

def _is_loopback_literal(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DemoClient(ClientMixin):  # type: ignore[misc]
    """A registered client. ``auth_method`` is its one RFC 7591 ``token_endpoint_auth_method``."""

    client_id: str
    client_secret: str | None
    auth_method: str
    grant_types: tuple[str, ...]
    accepts_json_body: bool = False
    redirect_uris: tuple[str, ...] = (
        "http://127.0.0.1/callback",
        "http://[::1]/callback",
    )
    issue_refresh_token: bool = True
    #: The public key of a `private_key_jwt` client (RFC 7517 JWK; RFC 7591 `jwks`).
    public_jwk: Mapping[str, Any] | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # RFC 8252 §7.3 clients pick their port at run time, so there is no default to fall back on.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            # RFC 6749 §3.3: an omitted scope gets a documented default.
            return " ".join(DEFAULT_SCOPES)
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        try:
            asked = urlsplit(redirect_uri)
            asked_port = asked.port
        except ValueError:
            return False
        for registered in map(urlsplit, self.redirect_uris):
            if _is_loopback_literal(registered.hostname):
                # RFC 8252 §7.3: "MUST allow any port to be specified at the time of the request
                # for loopback IP redirect URIs".
                same = (
                    asked.scheme == registered.scheme
                    and asked.hostname == registered.hostname
                    and asked.path == registered.path
                    and not asked.query
                    and not asked.fragment
                    and asked_port is not None
                )
            else:
                same = redirect_uri == registered.geturl()
            if same:
                return True
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret is None:
            return False
        return secrets.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # One method per client, at every endpoint (token and revocation): a client that
        # registered client_secret_basic may not switch to the body, and a public client may
        # never send a secret.
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        # RFC 9700 §2.1.2: no implicit grant; "code" is the only response type.
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "refresh_token" and not self.issue_refresh_token:
            return False
        return grant_type in self.grant_types


def demo_clients(
    *, issue_refresh_token: bool = True, redirect_uris: tuple[str, ...] = ()
) -> dict[str, DemoClient]:
    """The registered demo clients, one per client authentication method (plus a JSON one).

    ``redirect_uris`` are registered for every client besides the loopback ones, and matched
    exactly: a Jupyter server's ``.../nb-oauth/callback``, for example."""
    user_grants = (
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
    )
    confidential = (*user_grants, "client_credentials")
    clients = [
        DemoClient("demo-basic", "demo-basic-secret", "client_secret_basic", confidential),
        DemoClient("demo-post", "demo-post-secret", "client_secret_post", confidential),
        DemoClient("demo-public", None, "none", user_grants),
        # RFC 7523 §2.2 with HS256: the assertion is signed with this secret (32 bytes or more,
        # RFC 7518 §3.2).
        DemoClient("demo-jwt", "demo-jwt-secret-0123456789abcdefghij", "client_secret_jwt",
                   confidential),
        # For servers that want a JSON token request (body_encoding: json).
        DemoClient(
            "demo-json",
            "demo-json-secret",
            "client_secret_post",
            confidential,
            accepts_json_body=True,
        ),
    ]
    return {
        c.client_id: replace(
            c,
            issue_refresh_token=issue_refresh_token,
            redirect_uris=(*c.redirect_uris, *redirect_uris),
        )
        for c in clients
    }


@dataclass
class IssuedCode(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    # RFC 9449 §10: the thumbprint of the DPoP key the code may be redeemed with.
    dpop_jkt: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class IssuedToken(TokenMixin):  # type: ignore[misc]
    """One token response; tokens refreshed from one another share a ``family`` (RFC 9700 §4.14)."""

    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    issued_at: float
    expires_in: int
    family: str
    now: Callable[[], float] = field(repr=False)
    access_revoked: bool = False
    refresh_revoked: bool = False
    # Set when the refresh token was exchanged under rotation; presenting it again is reuse.
    refresh_rotated: bool = False
    # RFC 9449 §6: the thumbprint of the DPoP key the tokens are bound to (None: Bearer).
    jkt: str | None = None

    def check_client(self, client: DemoClient) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return self.now() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> dict[str, str]:
        return DEMO_USER


_CATEGORIES = ("books", "games", "music", "tools")
_TEAMS = ("north", "south", "east")


def demo_records(count: int) -> list[dict[str, object]]:
    """``count`` synthetic sales records, the same every run, with a nested object (so a
    DataFrame gets dotted columns): id, name, category, amount, day, owner.team, owner.id."""
    return [
        {
            "id": i,
            "name": f"record {i}",
            "category": _CATEGORIES[i % 4],
            "amount": round(10 + (i * 37) % 90 + (i % 7) * 0.25, 2),
            "day": f"2026-01-{1 + i % 28:02d}",
            "owner": {"id": 100 + i % 9, "team": _TEAMS[i % 3]},
        }
        for i in range(1, count + 1)
    ]


class DemoStore:
    """Thread-safe in-memory storage plus the counters tests read."""

    def __init__(self, clients: dict[str, DemoClient], now: Callable[[], float]) -> None:
        self.clients = clients
        self.now = now
        self.lock = threading.RLock()
        self.codes: dict[str, IssuedCode] = {}
        self.tokens: list[IssuedToken] = []
        # RFC 8628: device codes by device_code, the user's decision by user_code, last polls.
        self.device_codes: dict[str, dict[str, object]] = {}
        self.device_decisions: dict[str, bool] = {}
        self.device_polls: dict[str, float] = {}
        # RFC 7523 §3 item 7: the jti of every client assertion seen (each is accepted once).
        self.assertion_ids: set[str] = set()
        # RFC 9126 §2.2: pushed requests by request_uri: the client, the parameters, the expiry.
        self.pushed: dict[str, tuple[str, dict[str, str], float]] = {}
        self.counters: Counter[str] = Counter()
        self.items: list[dict[str, object]] = [
            {"id": i, "name": f"item {i}", "owner": DEMO_USER["sub"]} for i in range(1, 46)
        ]
        #: The paginated collection (``/api/records``); see `demo_records`.
        self.records: list[dict[str, object]] = demo_records(250)
        #: Seconds every API answer waits (settable while running: ``DemoProvider.latency``).
        self.latency = 0.0
        #: At most this many API requests per window, else 429 (``DemoProvider.rate_limit``).
        self.rate_limit: tuple[int, float] | None = None
        self.window: tuple[float, int] = (0.0, 0)  # (window start, requests in it)

    def count(self, key: str) -> None:
        with self.lock:
            self.counters[key] += 1

    def by_access_token(self, value: str) -> IssuedToken | None:
        with self.lock:
            return next((t for t in self.tokens if t.access_token == value), None)

    def by_refresh_token(self, value: str) -> IssuedToken | None:
        with self.lock:
            return next((t for t in self.tokens if t.refresh_token == value), None)

    def revoke_family(self, family: str) -> None:
        """Revoke every access and refresh token descended from one grant (RFC 9700 §4.14.2)."""
        with self.lock:
            for token in self.tokens:
                if token.family == family:
                    token.access_revoked = True
                    token.refresh_revoked = True
