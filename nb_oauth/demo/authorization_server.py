"""The demo authorization server: Authlib's server-side grants wired into a small Flask app.

Endpoints (RFC names): ``/authorize`` (consent page, RFC 6749 §4.1.1), ``/token`` (§3.2),
``/revoke`` (RFC 7009), ``/device_authorization`` and the ``/device`` verification page (RFC 8628),
``/register`` (RFC 7591) and ``/.well-known/oauth-authorization-server`` (RFC 8414).
"""

from __future__ import annotations

import html
import secrets
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import (
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialDict,
)
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, Response, g, jsonify, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from nb_oauth.bearer import origin

from .dpop import DPOP_ALGS, DPoPProblem, DPoPVerifier
from .settings import DemoSettings
from .store import DEMO_USER, SCOPES, DemoClient, DemoStore, IssuedCode, IssuedToken

__all__ = ["create_authorization_app"]

# RFC 7591 names of the client authentication methods the demo accepts.
ALL_AUTH_METHODS = [
    "client_secret_basic", "client_secret_post", "none", "client_secret_jwt", "private_key_jwt",
]
CONFIDENTIAL_AUTH_METHODS = [m for m in ALL_AUTH_METHODS if m != "none"]
#: RFC 9126 §2.2: a pushed request is good for a minute.
_PAR_LIFETIME_S = 60
#: The JWS algorithms the demo accepts on client assertions (RFC 8414 §2).
ASSERTION_ALGS = ["RS256", "PS256", "ES256", "HS256"]


class _DemoServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's Flask server, plus a JSON token-request body for the clients that asked for it."""

    def __init__(self, app: Flask, store: DemoStore, settings: DemoSettings) -> None:
        self.store = store
        self.settings = settings
        super().__init__(app, query_client=store.clients.get, save_token=self._save_token)
        generator = BearerTokenGenerator(
            access_token_generator=lambda **_: "demo-at-" + generate_token(32),
            refresh_token_generator=lambda **_: "demo-rt-" + generate_token(40),
            expires_generator=lambda client, grant_type: settings.token_lifetime,
        )
        self.register_token_generator("default", generator)

    def create_oauth2_request(self, req: Any) -> OAuth2Request:
        if request.is_json and request.path == "/token":
            return _JsonTokenRequest(request)
        return FlaskOAuth2Request(request)

    def _save_token(self, token: dict[str, Any], req: Any) -> None:
        jkt = g.get("dpop_jkt")
        if jkt is not None:
            token["token_type"] = "DPoP"  # RFC 9449 §5: the tokens are bound to the key
        parent = req.refresh_token  # the refresh grant sets it; None for a new grant
        family = parent.family if parent is not None else secrets.token_hex(8)
        issued = IssuedToken(
            access_token=token["access_token"],
            # Rotation off: no new refresh token; the client keeps the one on the parent record.
            refresh_token=token.get("refresh_token"),
            client_id=req.client.client_id,
            scope=token.get("scope", ""),
            issued_at=self.store.now(),
            expires_in=int(token.get("expires_in", 0)),
            family=family,
            now=self.store.now,
            jkt=jkt,
        )
        with self.store.lock:
            self.store.tokens.append(issued)


class _JsonPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: MultiDict[str, str]) -> None:
        self._values = values

    @property
    def data(self) -> MultiDict[str, str]:
        return self._values

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return defaultdict(list, {k: self._values.getlist(k) for k in self._values})


class _JsonTokenRequest(OAuth2Request):  # type: ignore[misc]
    """A token request whose parameters arrive as one JSON object (``body_encoding: json``)."""

    def __init__(self, flask_request: Any) -> None:
        super().__init__(flask_request.method, flask_request.url, headers=flask_request.headers)
        body = flask_request.get_json(silent=True)
        pairs = body.items() if isinstance(body, dict) else ()
        self._values: MultiDict[str, str] = MultiDict({k: str(v) for k, v in pairs})
        self.payload = _JsonPayload(self._values)

    @property
    def args(self) -> MultiDict[str, str]:
        return MultiDict()

    @property
    def form(self) -> MultiDict[str, str]:
        return self._values


class _S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only (RFC 7636 §4.2, RFC 9700 §2.1.1); public clients must use it."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            # RFC 7636 §4.3 would default to "plain"; the demo refuses it outright.
            raise InvalidRequestError("code_challenge_method must be S256")
        if grant.request.client.auth_method == "none" and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE (code_challenge with S256)")
        super().validate_code_challenge(grant, redirect_uri)


class _AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def save_authorization_code(self, code: str, req: Any) -> None:
        store: DemoStore = self.server.store
        data = req.payload.data
        with store.lock:
            store.codes[code] = IssuedCode(
                code=code,
                client_id=req.client.client_id,
                redirect_uri=req.payload.redirect_uri,
                scope=req.client.get_allowed_scope(req.payload.scope),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                # RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes".
                expires_at=store.now() + 600,
                # A server without DPoP ignores the parameter, as an unknown one.
                dpop_jkt=data.get("dpop_jkt") if self.server.settings.dpop else None,
            )

    def query_authorization_code(self, code: str, client: Any) -> IssuedCode | None:
        store: DemoStore = self.server.store
        with store.lock:
            found = store.codes.get(code)
        if found and found.dpop_jkt is not None and found.dpop_jkt != g.get("dpop_jkt"):
            # RFC 9449 §10.1: a code bound to a key is redeemed only with a proof of it.
            store.count("dpop_code_refused")
            return None
        if found and found.client_id == client.client_id and store.now() < found.expires_at:
            return found
        return None

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        # RFC 6749 §10.5: codes are single-use.
        with self.server.store.lock:
            self.server.store.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: IssuedCode) -> dict[str, str]:
        return DEMO_USER


class _RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    @property
    def INCLUDE_NEW_REFRESH_TOKEN(self) -> bool:  # noqa: N802 (Authlib's name)
        return bool(self.server.settings.rotate_refresh_tokens)

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        store: DemoStore = self.server.store
        token = store.by_refresh_token(refresh_token)
        if token is None or token.refresh_revoked:
            return None
        if token.jkt is not None and token.jkt != g.get("dpop_jkt"):
            # RFC 9449 §5: a bound refresh token needs a proof with the same key.
            store.count("dpop_refresh_refused")
            return None
        if token.refresh_rotated:
            # RFC 9700 §4.14.2: a rotated-out refresh token came back, so one of the two parties
            # holding it is an attacker. Revoke the whole family.
            store.count("refresh_token_reuse")
            store.revoke_family(token.family)
            return None
        return token

    def authenticate_user(self, refresh_token: IssuedToken) -> dict[str, str]:
        return DEMO_USER

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        if self.INCLUDE_NEW_REFRESH_TOKEN:
            with self.server.store.lock:
                refresh_token.refresh_rotated = True


class _ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS


class _ClientAssertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 §2.2 / §3 client authentication, verified by Authlib: `client_secret_jwt`
    (HMAC with the client's secret) or `private_key_jwt` (the client's registered public JWK).

    The audience must be the token endpoint, as one string, at every endpoint that authenticates
    the client (the revocation and device endpoints too); a `jti` is accepted once.
    """

    def __init__(self, method: str, store: DemoStore, token_endpoint: str) -> None:
        super().__init__(leeway=60)
        self.CLIENT_AUTH_METHOD = method
        self._store = store
        self._token_endpoint = token_endpoint

    def __call__(self, query_client: Any, req: Any) -> DemoClient | None:
        # Authlib tries every registered method in turn: this one answers only for its own
        # clients, so the other JWT method is not tried with the wrong key.
        assertion = req.form.get("client_assertion")
        if not assertion:
            return None
        try:
            _, claims = self.extract_assertion(assertion)
        except OAuth2Error:
            return None
        client = query_client(str(claims.get("sub", "")))
        if client is None or client.auth_method != self.CLIENT_AUTH_METHOD:
            return None
        result: DemoClient | None = super().__call__(query_client, req)
        return result

    def get_audiences(self) -> list[str]:
        return [self._token_endpoint]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        key = f"{claims['sub']}:{jti}"
        with self._store.lock:
            if key in self._store.assertion_ids:
                return False
            self._store.assertion_ids.add(key)
        self._store.count(f"assertion:{self.CLIENT_AUTH_METHOD}")
        return True

    def resolve_client_public_key(self, client: DemoClient) -> Any:
        from joserfc.jwk import ECKey, OctKey, RSAKey

        if self.CLIENT_AUTH_METHOD == "client_secret_jwt":
            return OctKey.import_key((client.client_secret or "").encode())
        jwk = dict(client.public_jwk or {})
        return (RSAKey if jwk.get("kty") == "RSA" else ECKey).import_key(jwk)


class _DeviceCredential(DeviceCredentialDict):  # type: ignore[misc]
    """A device code whose expiry follows the demo's clock (tests move a fake one)."""

    def __init__(self, data: dict[str, object], now: Any) -> None:
        super().__init__(data)
        self._now = now

    def is_expired(self) -> bool:
        return bool(self._now() >= float(self["expires_at"]))


class _DeviceAuthorization(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    """RFC 8628 §3.1–3.2; lifetime and interval come from the run's settings."""

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS
    issuer = ""

    @property
    def EXPIRES_IN(self) -> int:  # noqa: N802 (Authlib's name)
        return int(self.server.settings.device_code_lifetime)

    @property
    def INTERVAL(self) -> int:  # noqa: N802 (Authlib's name)
        return int(self.server.settings.device_interval)

    def get_verification_uri(self) -> str:
        return f"{self.issuer}/device"

    def save_device_credential(self, client_id: str, scope: str | None,
                               data: dict[str, Any]) -> None:
        store: DemoStore = self.server.store
        client = store.clients[client_id]
        record = {**data, "client_id": client_id, "scope": client.get_allowed_scope(scope),
                  "expires_at": store.now() + self.EXPIRES_IN}
        with store.lock:
            store.device_codes[data["device_code"]] = record
        store.count("device_authorizations")


class _DeviceCodeGrant(DeviceCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_device_credential(self, device_code: str) -> _DeviceCredential | None:
        store: DemoStore = self.server.store
        with store.lock:
            record = store.device_codes.get(device_code)
        return None if record is None else _DeviceCredential(record, store.now)

    def query_user_grant(self, user_code: str) -> tuple[dict[str, str], bool] | None:
        store: DemoStore = self.server.store
        with store.lock:
            decision = store.device_decisions.get(user_code)
        return None if decision is None else (DEMO_USER, decision)

    def should_slow_down(self, credential: _DeviceCredential) -> bool:
        # RFC 8628 §3.5: a client that polls faster than the interval is told to slow down.
        store: DemoStore = self.server.store
        now = store.now()
        with store.lock:
            last = store.device_polls.get(credential["device_code"])
            store.device_polls[credential["device_code"]] = now
        settings = self.server.settings
        least = settings.device_min_interval or settings.device_interval
        return last is not None and now - last < least

    def create_token_response(self) -> Any:
        response = super().create_token_response()
        # A device code is redeemed once; its user code cannot be approved again.
        store: DemoStore = self.server.store
        with store.lock:
            record = store.device_codes.pop(self.request.credential["device_code"], None)
            if record is not None:
                store.device_decisions.pop(str(record["user_code"]), None)
        return response


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        store: DemoStore = self.server.store
        # RFC 7009 §2.1: the hint is only a hint; search both kinds.
        return store.by_access_token(token_string) or store.by_refresh_token(token_string)

    def revoke_token(self, token: IssuedToken, req: Any) -> None:
        store: DemoStore = self.server.store
        store.count("revocations")
        with store.lock:
            if token.refresh_token == req.form["token"]:
                # RFC 7009 §2.1: revoking a refresh token also invalidates its access tokens.
                store.revoke_family(token.family)
            else:
                token.access_revoked = True


class _Registration(ClientRegistrationEndpoint):  # type: ignore[misc]
    """RFC 7591 dynamic registration, open to anyone (§3: the server MAY), for native public
    clients only: loopback redirect URIs, no secret (RFC 8252 §8.4)."""

    issuer = ""

    def authenticate_token(self, request: Any) -> bool:
        return True

    def get_server_metadata(self) -> dict[str, object]:
        return _metadata(self.issuer)

    def generate_client_info(self, request: Any) -> dict[str, object]:
        info: dict[str, object] = super().generate_client_info(request)
        info.pop("client_secret", None)  # a public client gets none
        info.pop("client_secret_expires_at", None)
        return info

    def save_client(self, client_info: dict[str, Any], client_metadata: dict[str, Any],
                    request: Any) -> DemoClient:
        store: DemoStore = self.server.store
        redirect_uris = tuple(client_metadata.get("redirect_uris") or ())
        if not redirect_uris or not all(_loopback_uri(uri) for uri in redirect_uris):
            raise InvalidClientMetadataError("only loopback redirect URIs can be registered here")
        if client_metadata.get("token_endpoint_auth_method", "none") != "none":
            raise InvalidClientMetadataError("only public clients (auth method none) here")
        grant_types = tuple(client_metadata.get("grant_types") or ("authorization_code",))
        client = DemoClient(client_id=str(client_info["client_id"]), client_secret=None,
                            auth_method="none", grant_types=grant_types,
                            redirect_uris=redirect_uris)
        with store.lock:
            store.clients[client.client_id] = client
        store.count("registrations")
        return client


def _loopback_uri(uri: object) -> bool:
    return isinstance(uri, str) and urlsplit(uri).hostname in ("127.0.0.1", "::1")


class _Issuer(IssuerParameter):  # type: ignore[misc]
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def create_authorization_app(store: DemoStore, settings: DemoSettings, issuer: str) -> Flask:
    """Build the authorization server's Flask app; ``issuer`` is its own base URL."""
    app = Flask("nb_oauth.demo.authorization_server")
    server = _DemoServer(app, store, settings)
    for method in ("client_secret_jwt", "private_key_jwt"):
        server.register_client_auth_method(
            method, _ClientAssertion(method, store, f"{issuer}/token")
        )
    server.register_grant(_AuthorizationCodeGrant, [_S256Only(required=True)])
    server.register_grant(_RefreshTokenGrant)
    server.register_grant(_ClientCredentialsGrant)
    server.register_endpoint(_Revocation)
    server.register_grant(_DeviceCodeGrant)
    server.register_endpoint(
        type("_IssuerDeviceAuthorization", (_DeviceAuthorization,), {"issuer": issuer})
    )
    registration = type("_IssuerRegistration", (_Registration,), {"issuer": issuer})
    server.register_endpoint(registration)
    # RFC 9207 §2: iss in every authorization response, errors included.
    issuer_parameter = _Issuer(issuer)
    server.register_extension(issuer_parameter)

    def described() -> dict[str, object]:
        return {**_metadata(issuer),
                "require_pushed_authorization_requests": settings.require_par}

    @app.get("/.well-known/oauth-authorization-server")
    def metadata() -> Response:
        return jsonify(described())

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        # OpenID Connect Discovery 1.0 §4: the same endpoints, for clients that look here.
        return jsonify(described())

    @app.post("/par")
    def pushed_authorization_request() -> Any:
        # RFC 9126 §2: the client authenticates as at the token endpoint; the parameters are
        # those of an authorization request, checked when the browser comes with request_uri.
        req = server.create_oauth2_request(request)
        try:
            client = server.authenticate_client(req, ALL_AUTH_METHODS, "par")
        except OAuth2Error as error:
            return server.handle_error_response(req, error)
        store.count("par_requests")
        if settings.par_refuse or "request_uri" in request.form:
            refused = InvalidRequestError("This pushed authorization request is refused")
            return server.handle_error_response(req, refused)
        auth = {"client_secret", "client_assertion", "client_assertion_type"}
        # Basic authentication carries client_id in the header only: the pushed request is the
        # authenticated client's (RFC 9126 §2.1).
        params = {"client_id": client.client_id,
                  **{k: v for k, v in request.form.items() if k not in auth}}
        if params["client_id"] != client.client_id:
            return server.handle_error_response(req, InvalidRequestError("client_id mismatch"))
        uri = f"urn:ietf:params:oauth:request_uri:{secrets.token_urlsafe(24)}"
        with store.lock:
            store.pushed[uri] = (client.client_id, params, store.now() + _PAR_LIFETIME_S)
        return jsonify({"request_uri": uri, "expires_in": _PAR_LIFETIME_S}), 201

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        request_uri = request.args.get("request_uri")
        if request_uri is not None:
            # RFC 9126 §4: the parameters are the pushed ones, for this client, not expired;
            # used once (taken when the user decides).
            with store.lock:
                pushed = store.pushed.get(request_uri)
            if (pushed is None or pushed[0] != request.args.get("client_id")
                    or store.now() >= pushed[2]):
                return _page("Authorization request refused",
                             "<p>The request_uri is unknown, expired or not this client's.</p>",
                             status=400)
            request.args = ImmutableMultiDict(pushed[1])
            if request.method == "POST" or settings.auto_approve:
                with store.lock:
                    store.pushed.pop(request_uri, None)
            store.count("authorizations:pushed")
        elif settings.require_par:
            return _page("Authorization request refused",
                         "<p>This server requires pushed authorization requests (RFC 9126).</p>",
                         status=400)
        try:
            grant = server.get_consent_grant(end_user=DEMO_USER)
        except OAuth2Error as error:
            if error.redirect_uri:
                # RFC 6749 §4.1.2.1: a trusted redirect URI gets the error (with iss, RFC 9207).
                response = server.handle_error_response(None, error)
                issuer_parameter.add_issuer_parameter(server, response)
                return response
            # The client or redirect URI could not be trusted: say so here, redirect nowhere.
            message = html.escape(error.description or error.error)
            return _page("Authorization request refused", f"<p>{message}</p>", status=400)
        if request.method == "GET" and not settings.auto_approve:
            return _consent_page(grant)
        store.count("authorizations")
        approved = settings.auto_approve or request.form.get("decision") == "approve"
        return server.create_authorization_response(
            grant=grant, grant_user=DEMO_USER if approved else None
        )

    dpop = DPoPVerifier(require_nonce=settings.dpop_nonce, nonce_loop=settings.dpop_nonce_loop)

    @app.post("/token")
    def token() -> Any:
        grant_type = _token_parameter("grant_type")
        store.count(f"token:{grant_type or 'missing'}")
        if settings.dpop and "DPoP" in request.headers:
            try:
                g.dpop_jkt = dpop.check(request.headers.getlist("DPoP"), "POST",
                                        f"{issuer}/token")
            except DPoPProblem as problem:
                store.count(f"dpop:{problem.error}")
                return dpop.token_error(problem)
            store.count("dpop:token_proofs")
        if request.is_json and not _client_accepts_json(store):
            error = InvalidRequestError("This client must send form-encoded token requests")
            return server.handle_error_response(None, error)
        return server.create_token_response()

    @app.post("/device_authorization")
    def device_authorization() -> Any:
        return server.create_endpoint_response("device_authorization")

    @app.route("/device", methods=["GET", "POST"])
    def device() -> Response:
        # RFC 8628 §3.3: the user enters the code shown on the device, then approves.
        user_code = (request.values.get("user_code") or "").strip().upper()
        decision = request.form.get("decision") if request.method == "POST" else None
        with store.lock:
            pending = {str(d["user_code"]): d for d in store.device_codes.values()
                       if float(str(d["expires_at"])) > store.now()}
            record = pending.get(user_code)
            if record is not None and decision in ("approve", "deny"):
                store.device_decisions[user_code] = decision == "approve"
        if decision in ("approve", "deny") and record is not None:
            store.count("device_decisions")
            if decision == "approve":
                return _page("Device approved", "<p>Signed in. Go back to your notebook: it "
                             "continues by itself. You can close this tab.</p>")
            return _page("Device denied", "<p>Access was denied. You can close this tab.</p>")
        return _device_page(user_code, record, unknown=bool(user_code) and record is None)

    @app.post("/revoke")
    def revoke() -> Any:
        return server.create_endpoint_response("revocation")

    @app.post("/register")
    def register() -> Any:
        return server.create_endpoint_response("client_registration")

    return app


def _token_parameter(name: str) -> str | None:
    if request.is_json:
        body = request.get_json(silent=True)
        value = body.get(name) if isinstance(body, dict) else None
        return str(value) if value is not None else None
    return request.form.get(name)


def _client_accepts_json(store: DemoStore) -> bool:
    auth = request.authorization
    client_id = auth.username if auth and auth.type == "basic" else _token_parameter("client_id")
    client = store.clients.get(client_id or "")
    return bool(client and client.accepts_json_body)


def _metadata(issuer: str) -> dict[str, object]:
    """RFC 8414 §2 authorization server metadata (plus RFC 9207 §3)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "registration_endpoint": f"{issuer}/register",
        "response_types_supported": ["code"],
        "device_authorization_endpoint": f"{issuer}/device_authorization",
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "token_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SCOPES),
        "authorization_response_iss_parameter_supported": True,
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "pushed_authorization_request_endpoint": f"{issuer}/par",
    }


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"


def _page(
    title: str, body_html: str, status: int = 200, *, form_target: str | None = None
) -> Response:
    """An HTML page with a strict CSP. ``form_target`` is the validated redirect URI a form on
    the page ends at: browsers apply ``form-action`` to the redirects after a submission too
    (CSP Level 3 §6.3.1, enforced by Chromium), so the consent form's 302 to the client's
    loopback port needs that origin listed, and only that one."""
    text = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32em;margin:3em auto}"
        "button{font-size:1em;padding:.4em 1.2em;margin-right:1em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    csp = _CSP if form_target is None else f"{_CSP} {_csp_origin(form_target)}"
    headers = {**_PAGE_HEADERS, "Content-Security-Policy": csp}
    return Response(text, status=status, mimetype="text/html", headers=headers)


def _csp_origin(url: str) -> str:
    """The origin of an already validated URL, as a CSP source expression."""
    found = origin(url)
    if found is None:
        raise ValueError("not a URL a CSP source can name")
    return found


def _consent_page(grant: Any) -> Response:
    client_id = html.escape(grant.client.client_id)
    scopes = grant.client.get_allowed_scope(grant.request.payload.scope).split()
    scope_items = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes)
    # The form posts back to the same URL, so the validated request parameters come along.
    body = (
        f"<p><strong>{client_id}</strong> asks to access the demo API as "
        f"<strong>{html.escape(DEMO_USER['name'])}</strong> with these scopes:</p>"
        f"<ul>{scope_items}</ul>"
        "<form method='post'>"
        "<button type='submit' name='decision' value='approve' id='approve'>Approve</button>"
        "<button type='submit' name='decision' value='deny' id='deny'>Deny</button>"
        "</form>"
    )
    # The request was validated before this page is shown, redirect URI included.
    return _page("nb_oauth demo provider: grant access?", body, form_target=grant.redirect_uri)


def _device_page(user_code: str, record: dict[str, object] | None, *, unknown: bool) -> Response:
    """The verification page (RFC 8628 §3.3): enter the code, or confirm the one in the link."""
    if record is None:
        problem = "<p><strong>That code is not valid or has expired.</strong></p>"
        problem = problem if unknown else ""
        body = (
            f"{problem}<p>Enter the code shown in your notebook:</p>"
            "<form method='get'><input name='user_code' id='user_code' autocomplete='off' "
            "autofocus style='font-size:1.4em;letter-spacing:.1em;text-transform:uppercase'> "
            "<button type='submit' id='next'>Next</button></form>"
        )
        return _page("nb_oauth demo provider: sign in a device", body, status=404 if unknown
                     else 200)
    scopes = str(record["scope"]).split()
    scope_items = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in scopes)
    code = html.escape(user_code, quote=True)
    body = (
        f"<p>Code <strong style='font-size:1.4em;letter-spacing:.1em'>{code}</strong>: "
        f"<strong>{html.escape(str(record['client_id']))}</strong> asks to access the demo API "
        f"as <strong>{html.escape(DEMO_USER['name'])}</strong> with these scopes:</p>"
        f"<ul>{scope_items}</ul>"
        "<p>Approve only if this code is the one your notebook shows.</p>"
        "<form method='post'>"
        f"<input type='hidden' name='user_code' value='{code}'>"
        "<button type='submit' name='decision' value='approve' id='approve'>Approve</button>"
        "<button type='submit' name='decision' value='deny' id='deny'>Deny</button>"
        "</form>"
    )
    return _page("nb_oauth demo provider: sign in a device?", body)
