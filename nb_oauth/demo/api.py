"""The demo provider's protected JSON API (an OAuth 2.0 resource server, RFC 6750).

``GET /api/me`` needs any valid token; ``GET /api/items`` (paginated) needs ``items:read``;
``POST /api/items`` needs ``items:write``; ``GET /api/status/<code>`` answers with that error
status, for trying out error handling. The token may come in the ``Authorization`` header under
any configured scheme (``Bearer`` by default) or in the ``access_token`` query parameter (RFC 6750
§2.3, supported because the seed's "Add Access Token To: query" needs a server that accepts it).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from .dpop import DPoPProblem, DPoPVerifier
from .settings import DemoSettings
from .store import DEMO_USER, DemoStore, IssuedToken

__all__ = ["create_api_app"]

_REALM = 'realm="nb_oauth demo"'


def create_api_app(
    store: DemoStore, settings: DemoSettings, *, resource: str = "", issuer: str = ""
) -> Flask:
    """Build the resource server's Flask app over the authorization server's token store.

    With `resource` (its own root URL) and `issuer`, it publishes RFC 9728 protected resource
    metadata and names it in every 401 challenge (`resource_metadata`), as MCP servers do.
    """
    app = Flask("nb_oauth.demo.api")
    prefixes = {p.lower() for p in settings.api_token_prefixes}
    metadata_url = f"{resource}/.well-known/oauth-protected-resource" if resource else None

    def deny(status: int, error: str | None, description: str | None) -> Response:
        store.count(f"api_{status}")
        return _challenge(status, error, description, metadata_url if status == 401 else None)

    @app.get("/.well-known/oauth-protected-resource")
    def protected_resource_metadata() -> Any:
        # RFC 9728 §2-3: the resource identifier, and the authorization servers that issue
        # tokens for it.
        if not resource:
            return jsonify({"error": "not_found"}), 404
        return jsonify({
            "resource": resource,
            "authorization_servers": [issuer],
            "bearer_methods_supported": ["header", "query"],
            "scopes_supported": ["profile", "items:read", "items:write"],
        })

    dpop = DPoPVerifier(require_nonce=settings.api_dpop_nonce,
                        nonce_loop=settings.api_dpop_nonce_loop)

    def dpop_problem(token: IssuedToken, scheme: str, value: str) -> Response | None:
        # RFC 9449 §7: a DPoP-bound token comes with the DPoP scheme and a proof of its key.
        if token.jkt is None and scheme != "dpop":
            return None
        try:
            if token.jkt is None or scheme != "dpop":
                raise DPoPProblem("invalid_token", "a DPoP-bound token needs the DPoP scheme")
            jkt = dpop.check(request.headers.getlist("DPoP"), request.method, request.url,
                             access_token=value)
            if jkt != token.jkt:
                raise DPoPProblem("invalid_dpop_proof", "the proof's key is not the token's")
        except DPoPProblem as problem:
            store.count(f"api_dpop:{problem.error}")
            return dpop.api_challenge(problem)
        store.count("api_dpop_proofs")
        return None

    def authorize(scope: str | None) -> IssuedToken | Response:
        store.count("api_requests")
        scheme = ""
        header = request.headers.get("Authorization")
        in_query = request.args.get("access_token")
        if header and in_query:
            # RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token".
            return deny(400, "invalid_request", "send the token one way only")
        value = in_query
        if header:
            scheme, _, value = header.partition(" ")
            scheme = scheme.lower()
            if scheme not in prefixes and not (settings.dpop and scheme == "dpop"):
                value = None
        if not value:
            # RFC 6750 §3.1: no error code when the request carried no authentication at all.
            return deny(401, None, None)
        token = store.by_access_token(value.strip())
        if token is None or token.is_revoked() or token.is_expired():
            return deny(401, "invalid_token", "The access token is expired, revoked or unknown")
        refused = dpop_problem(token, scheme, value.strip())
        if refused is not None:
            return refused
        if scope and scope not in token.scope.split():
            return deny(403, "insufficient_scope", f"This call needs the {scope} scope")
        return token

    @app.get("/api/me")
    def me() -> Any:
        token = authorize(None)
        if isinstance(token, Response):
            return token
        return jsonify({**DEMO_USER, "client_id": token.client_id, "scope": token.scope})

    @app.get("/api/items")
    def list_items() -> Any:
        token = authorize("items:read")
        if isinstance(token, Response):
            return token
        page = _positive_int("page", 1)
        per_page = min(_positive_int("per_page", 10), 100)
        with store.lock:
            items = list(store.items)
        start = (page - 1) * per_page
        more = start + per_page < len(items)
        return jsonify(
            {
                "items": items[start : start + per_page],
                "page": page,
                "per_page": per_page,
                "total": len(items),
                "next": f"/api/items?page={page + 1}&per_page={per_page}" if more else None,
            }
        )

    @app.post("/api/items")
    def create_item() -> Any:
        token = authorize("items:write")
        if isinstance(token, Response):
            return token
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return jsonify({"error": "send a JSON object with a string 'name'"}), 400
        with store.lock:
            item = {"id": len(store.items) + 1, "name": body["name"], "owner": DEMO_USER["sub"]}
            store.items.append(item)
        return jsonify(item), 201

    @app.get("/api/status/<int:code>")
    def status(code: int) -> Any:
        # For trying out error handling: answers with the HTTP status asked for (400..599).
        token = authorize(None)
        if isinstance(token, Response):
            return token
        if not 400 <= code <= 599:
            return jsonify({"error": "ask for a status from 400 to 599"}), 400
        return jsonify({"error": "demo_error", "status": code}), code

    return app


def _positive_int(name: str, default: int) -> int:
    try:
        return max(1, int(request.args.get(name, default)))
    except ValueError:
        return default


def _challenge(
    status: int, error: str | None, description: str | None, metadata_url: str | None = None
) -> Response:
    """An RFC 6750 §3 ``WWW-Authenticate: Bearer`` challenge (with RFC 9728 §5.1
    ``resource_metadata`` when the API publishes its metadata)."""
    parts = [_REALM]
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    if metadata_url:
        parts.append(f'resource_metadata="{metadata_url}"')
    body = {"error": error or "unauthorized"}
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = "Bearer " + ", ".join(parts)
    return response
