"""A local emulation of a provider's documented OAuth behaviour, for the preset tests and the
providers notebook: nothing leaves the machine.

One small server on 127.0.0.1 plays the authorization endpoint (it approves at once and redirects
back with a code, as a browser that already consented would see), the token endpoint (code with
S256 PKCE, refresh with optional rotation) and an API that checks the token. A `Profile` says how
the provider departs from the RFCs (docs/provider-notes/<provider>.md): the header scheme of API
calls, how clients authenticate, the token request's body encoding, the shape of the token
response. Every request is logged, so a test asserts each quirk on what nb_oauth really sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["Emulation", "Logged", "Profile"]


@dataclass(frozen=True)
class Profile:
    """How one provider behaves. `client_auth` is what its token endpoint expects: "basic",
    "body" or "none"; `json_body`: token requests are JSON; `form_unless_json_accepted`: the
    answer is form-encoded unless the request sends Accept: application/json (GitHub);
    `expires_at_only`: the answer gives the absolute expiry instead of expires_in."""

    scheme: str = "Bearer"
    client_auth: str = "basic"
    json_body: bool = False
    form_unless_json_accepted: bool = False
    expires_at_only: bool = False
    rotate: bool = True
    lifetime: int = 3600
    #: The answer says nothing of the expiry (Salesforce): the API's 401 is the only sign.
    no_expiry: bool = False
    #: The token set sits in this member (Slack: authed_user), beside "ok": true.
    nest: str | None = None
    #: The answer names the API's root in this member (Salesforce instance_url, Zoho api_domain).
    api_base_member: str | None = None


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)


class Emulation:
    """The emulated provider; `base` is its root URL. `now` is the test's clock."""

    #: The one client the emulation knows (a test-rig credential, not a real secret).
    client_id = "emulated-client"
    client_secret = "emulated-secret"

    def __init__(self, profile: Profile, now: Callable[[], float]) -> None:
        self.profile = profile
        self.now = now
        self.log: list[Logged] = []
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (challenge, redirect_uri)
        self._access: dict[str, float] = {}  # access token -> expiry
        self._refresh: set[str] = set()
        self._lock = threading.Lock()
        emulation = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                emulation._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                emulation._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Emulation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Emulation at {self.base} >"

    def requests(self, path: str) -> list[Logged]:
        return [entry for entry in self.log if entry.path == path]

    # -- the provider ---------------------------------------------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(http.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        headers = {key.lower(): value for key, value in http.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = http.rfile.read(length) if length else b""
        if headers.get("content-type", "").startswith("application/json"):
            form = {key: str(value) for key, value in json.loads(raw or b"{}").items()}
        else:
            form = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
        entry = Logged(method, url.path, query, headers, form)
        with self._lock:
            self.log.append(entry)
        if url.path == "/authorize":
            self._authorize(http, query)
        elif url.path == "/token":
            self._token(http, entry)
        else:
            self._api(http, headers)

    def _authorize(self, http: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (query.get("code_challenge", ""), query["redirect_uri"])
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        http.send_response(302)
        http.send_header("Location", location)
        http.send_header("Content-Length", "0")
        http.end_headers()

    def _token(self, http: BaseHTTPRequestHandler, entry: Logged) -> None:
        if not self._client_ok(entry):
            return self._send(http, 401, {"error": "invalid_client"})
        grant = entry.form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                challenge, redirect_uri = self._codes.pop(entry.form.get("code", ""), ("", ""))
                verifier = entry.form.get("code_verifier", "")
                digest = hashlib.sha256(verifier.encode()).digest()
                expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if not challenge or expected != challenge or (
                    entry.form.get("redirect_uri") != redirect_uri
                ):
                    return self._send(http, 400, {"error": "invalid_grant"})
            elif grant == "refresh_token":
                token = entry.form.get("refresh_token", "")
                if token not in self._refresh:
                    return self._send(http, 400, {"error": "invalid_grant"})
                if self.profile.rotate:
                    self._refresh.discard(token)
            else:
                return self._send(http, 400, {"error": "unsupported_grant_type"})
            access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
            self._access[access] = self.now() + self.profile.lifetime
            if self.profile.rotate or grant == "authorization_code":
                self._refresh.add(refresh)
            else:
                refresh = entry.form["refresh_token"]
        body: dict[str, object] = {"access_token": access, "token_type": "bearer",
                                   "refresh_token": refresh}
        if self.profile.no_expiry:
            pass
        elif self.profile.expires_at_only:
            body["expires_at"] = int(self.now() + self.profile.lifetime)
        else:
            body["expires_in"] = self.profile.lifetime
        if self.profile.api_base_member:
            body[self.profile.api_base_member] = self.base
        if self.profile.nest:
            body = {"ok": True, "access_token": "bot-token-not-for-us", "token_type": "bot",
                    self.profile.nest: {**body, "token_type": "user"}}
        accepts_json = "application/json" in entry.headers.get("accept", "")
        if self.profile.form_unless_json_accepted and not accepts_json:
            return self._send_form(http, body)
        self._send(http, 200, body)

    def _client_ok(self, entry: Logged) -> bool:
        expected = self.profile.client_auth
        basic = entry.headers.get("authorization", "")
        if expected == "basic":
            token = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            return basic == f"Basic {token}" and "client_secret" not in entry.form
        if expected == "body":
            return not basic and entry.form.get("client_id") == self.client_id and (
                entry.form.get("client_secret") == self.client_secret
            )
        return not basic and entry.form.get("client_id") == self.client_id and (
            "client_secret" not in entry.form
        )

    def _api(self, http: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._lock:
            expiry = self._access.get(token)
        if scheme != self.profile.scheme or expiry is None or expiry <= self.now():
            return self._send(http, 401, {"error": "invalid_token"},
                              {"WWW-Authenticate": f'{self.profile.scheme} error="invalid_token"'})
        self._send(http, 200, {"user": "emulated"})

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, status: int, body: dict[str, object],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            http.send_header(key, value)
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)

    @staticmethod
    def _send_form(http: BaseHTTPRequestHandler, body: dict[str, object]) -> None:
        data = urlencode({key: str(value) for key, value in body.items()}).encode()
        http.send_response(200)
        http.send_header("Content-Type", "application/x-www-form-urlencoded")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)
