"""The demo provider's protected JSON API (an OAuth 2.0 resource server, RFC 6750).

``GET /api/me`` needs any valid token; ``GET /api/items`` (paginated) needs ``items:read``;
``POST /api/items`` needs ``items:write``; ``GET /api/status/<code>`` answers with that error
status, for trying out error handling.

``GET /api/records/<style>`` (``items:read``) serves one collection of synthetic records
(`demo_records`), paginated in the style asked for, as real APIs do:

* ``link``: a JSON list, the next page in an RFC 8288 ``Link: <...>; rel="next"`` header (GitHub);
* ``next``: ``{"items": [...], "next": "/api/records/next?page=2..."}`` (a body next URL);
* ``odata``: ``{"value": [...], "@odata.nextLink": "http://..."}`` (Microsoft Graph);
* ``cursor``: ``{"members": [...], "response_metadata": {"next_cursor": "..."}}`` (Slack);
* ``token``: ``{"results": [...], "nextPageToken": "..."}`` (Google);
* ``stripe``: ``{"data": [...], "has_more": true}``, continued with ``starting_after=<id>``.

``per_page`` (or ``limit``) sets the page size, at most 1000. Two switches of the running
provider act on every API call: ``latency`` (seconds each answer waits) and ``rate_limit``
(``(requests, window_s)``: beyond that, 429 with ``Retry-After`` and GitHub's
``X-RateLimit-*`` headers, timed by the provider's clock).

The token may come in the ``Authorization`` header under any configured scheme (``Bearer`` by
default) or in the ``access_token`` query parameter (RFC 6750 §2.3, supported because the seed's
"Add Access Token To: query" needs a server that accepts it).
"""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import urlencode

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

    def limited() -> Response | None:
        # The rate limit of the demo: a fixed window on the provider's clock.
        limit = store.rate_limit
        if limit is None:
            return None
        allowed, window_s = limit
        now = settings.now()
        with store.lock:
            start, used = store.window
            if now >= start + window_s:
                start, used = now, 0
            used += 1
            store.window = (start, used)
        if used <= allowed:
            return None
        store.count("api_429")
        wait = max(1, math.ceil(start + window_s - now))
        response = jsonify({"error": "rate_limited", "retry_after": wait})
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        response.headers["X-RateLimit-Limit"] = str(allowed)
        response.headers["X-RateLimit-Remaining"] = "0"
        response.headers["X-RateLimit-Reset"] = str(math.ceil(start + window_s))
        return response

    def authorize(scope: str | None) -> IssuedToken | Response:
        store.count("api_requests")
        if store.latency > 0:
            time.sleep(store.latency)
        refused = limited()
        if refused is not None:
            return refused
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

    @app.get("/api/records/<style>")
    def records(style: str) -> Any:
        token = authorize("items:read")
        if isinstance(token, Response):
            return token
        if style not in _STYLES:
            return jsonify({"error": f"style is one of {', '.join(_STYLES)}"}), 404
        store.count(f"records_{style}")
        size = min(_positive_int("per_page", _positive_int("limit", 25)), 1000)
        records = store.records
        start = _start(style, records)
        if start is None:
            return jsonify({"error": "unknown cursor"}), 400
        page = records[start : start + size]
        end = start + size
        more = end < len(records)
        return _page(style, page, end, size, more)

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


_STYLES = ("link", "next", "odata", "cursor", "token", "stripe")


def _start(style: str, records: list[dict[str, Any]]) -> int | None:
    """Where a page of ``style`` starts, from its page number or cursor (None: a bad cursor)."""
    if style in ("link", "next", "odata"):
        return (_positive_int("page", 1) - 1) * _positive_int(
            "per_page", _positive_int("limit", 25)
        )
    if style == "stripe":
        after = request.args.get("starting_after")
        if after is None:
            return 0
        ids = [str(record["id"]) for record in records]
        return ids.index(after) + 1 if after in ids else None
    cursor = request.args.get("cursor" if style == "cursor" else "pageToken")
    if not cursor:
        return 0
    try:
        return int(cursor.removeprefix("c-"))
    except ValueError:
        return None


def _page(style: str, page: list[dict[str, Any]], end: int, size: int, more: bool) -> Any:
    if style in ("link", "next", "odata"):
        number = _positive_int("page", 1)
        query = urlencode({"page": number + 1, "per_page": size})
        following = f"{request.base_url}?{query}"
        if style == "link":
            response = jsonify(page)
            if more:
                response.headers["Link"] = f'<{following}>; rel="next"'
            return response
        if style == "next":
            return jsonify({"items": page, "next": f"{request.path}?{query}" if more else None})
        body: dict[str, Any] = {"@odata.context": "demo/$metadata#records", "value": page}
        if more:
            body["@odata.nextLink"] = following
        return jsonify(body)
    if style == "cursor":
        cursor = f"c-{end}" if more else ""
        return jsonify({"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}})
    if style == "token":
        body = {"results": page}
        if more:
            body["nextPageToken"] = f"c-{end}"
        return jsonify(body)
    return jsonify({"object": "list", "url": request.path, "data": page, "has_more": more})


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
