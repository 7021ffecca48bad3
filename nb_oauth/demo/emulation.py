"""A local emulation of a provider's documented OAuth behaviour, for the preset tests and the
providers notebook: nothing leaves the machine.

One small server on 127.0.0.1 plays the authorization endpoint (it approves at once and redirects
back with a code, as a browser that already consented would see), the token endpoint (code with
S256 PKCE, refresh with optional rotation, device code polling), the device authorization endpoint
(RFC 8628 §3.1, at /device; the user's approval is the test's `approve_device()`) and an API that
checks the token. A `Profile` says how the provider departs from the RFCs
(docs/provider-notes/<provider>.md): the header scheme of API calls, how clients authenticate, the
token request's body encoding, the shape of the token and device authorization responses. Every
request is logged, so a test asserts each quirk on what nb_oauth really sent.
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

#: RFC 8628 §3.4.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


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
    # -- the device grant (RFC 8628), docs/provider-notes/<provider>.md "Device grant" ----------
    # Device code polls authenticate as `client_auth`; the device authorization endpoint also
    # takes the client id alone (GitHub, Google and Microsoft document only that).
    #: The member naming the verification page (Google: verification_url, as an RFC 8628 draft).
    verification_member: str = "verification_uri"
    #: The answer also gives verification_uri_complete (Microsoft, GitHub and Google do not).
    verification_complete: bool = True
    #: The polling interval announced, and the one enforced (slow_down below it; RFC 8628 §3.5).
    device_interval: int = 5
    device_min_interval: int | None = None
    #: slow_down states the new interval (GitHub).
    slow_down_interval: bool = False
    #: The HTTP status of polling errors (GitHub: 200), and per error code where it differs
    #: (Auth0: authorization_pending 403, slow_down 429).
    device_error_status: int = 400
    device_error_statuses: tuple[tuple[str, int], ...] = ()
    #: The error when the user declines (Microsoft: authorization_declined).
    declined_error: str = "access_denied"
    device_lifetime: int = 900
    #: More members of the device authorization response (Microsoft: message).
    device_extra: tuple[tuple[str, str], ...] = ()


@dataclass
class _Device:
    user_code: str
    scope: str
    expires: float
    interval: int
    last_poll: float | None = None
    decision: bool | None = None  # None: the user has not answered yet


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
        self._devices: dict[str, _Device] = {}  # device code -> its state
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

    @property
    def pending_user_codes(self) -> list[str]:
        """The user codes shown and not yet approved or declined."""
        with self._lock:
            return [d.user_code for d in self._devices.values() if d.decision is None]

    def approve_device(self, approve: bool = True) -> None:
        """The user enters the code and approves (or declines) on the verification page: every
        pending device code is decided. Raises `LookupError` when none is pending."""
        with self._lock:
            pending = [d for d in self._devices.values() if d.decision is None]
            if not pending:
                raise LookupError("no device code is waiting for approval")
            for device in pending:
                device.decision = approve

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
        elif url.path == "/device":
            self._device_authorization(http, entry)
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

    def _device_authorization(self, http: BaseHTTPRequestHandler, entry: Logged) -> None:
        # RFC 8628 §3.1: the client id, or the client's authentication.
        if not any(self._client_ok(entry, m) for m in (self.profile.client_auth, "none")):
            return self._answer(http, entry, 401, {"error": "invalid_client"})
        profile = self.profile
        device_code, user_code = secrets.token_urlsafe(24), "WDJB-MJHT"
        verification = f"{self.base}/activate"
        with self._lock:
            self._devices[device_code] = _Device(
                user_code, entry.form.get("scope", ""), self.now() + profile.device_lifetime,
                profile.device_interval,
            )
        body: dict[str, object] = {
            "device_code": device_code, "user_code": user_code,
            profile.verification_member: verification,
            "expires_in": profile.device_lifetime, "interval": profile.device_interval,
        }
        if profile.verification_complete:
            query = urlencode({"user_code": user_code})
            body["verification_uri_complete"] = f"{verification}?{query}"
        body.update(profile.device_extra)
        self._answer(http, entry, 200, body)

    def _device_poll(self, entry: Logged) -> tuple[int, dict[str, object]] | None:
        """The answer to a device code poll (RFC 8628 §3.5), or None when tokens are due."""
        profile = self.profile
        device = self._devices.get(entry.form.get("device_code", ""))
        if device is None:
            return 400, {"error": "invalid_grant"}

        def error(code: str, **more: object) -> tuple[int, dict[str, object]]:
            status = dict(profile.device_error_statuses).get(code, profile.device_error_status)
            return status, {"error": code, **more}

        now = self.now()
        if now >= device.expires:
            return error("expired_token")
        too_soon = device.last_poll is not None and (
            now - device.last_poll < (profile.device_min_interval or device.interval)
        )
        device.last_poll = now
        if too_soon:
            device.interval += 5
            if profile.slow_down_interval:
                return error("slow_down", interval=device.interval)
            return error("slow_down")
        if device.decision is None:
            return error("authorization_pending")
        if not device.decision:
            return error(profile.declined_error)
        del self._devices[entry.form["device_code"]]
        return None

    def _token(self, http: BaseHTTPRequestHandler, entry: Logged) -> None:
        grant = entry.form.get("grant_type")
        if not self._client_ok(entry, self.profile.client_auth):
            return self._send(http, 401, {"error": "invalid_client"})
        with self._lock:
            if grant == DEVICE_CODE_GRANT:
                refusal = self._device_poll(entry)
                if refusal is not None:
                    return self._answer(http, entry, *refusal)
            elif grant == "authorization_code":
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
            if self.profile.rotate or grant != "refresh_token":
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
        self._answer(http, entry, 200, body)

    def _answer(self, http: BaseHTTPRequestHandler, entry: Logged, status: int,
                body: dict[str, object]) -> None:
        """JSON, or a form when the provider answers so unless asked for JSON (GitHub)."""
        accepts_json = "application/json" in entry.headers.get("accept", "")
        if self.profile.form_unless_json_accepted and not accepts_json:
            return self._send_form(http, body, status)
        self._send(http, status, body)

    def _client_ok(self, entry: Logged, expected: str) -> bool:
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
    def _send_form(
        http: BaseHTTPRequestHandler, body: dict[str, object], status: int = 200
    ) -> None:
        data = urlencode({key: str(value) for key, value in body.items()}).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/x-www-form-urlencoded")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)
