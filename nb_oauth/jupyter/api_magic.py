"""What ``%%api`` / ``%api`` do once parsed: send one request, turn the answer into something to
show and keep. Errors become one ``UsageError`` line or one error block, never a traceback."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import httpx
from IPython.core.error import UsageError
from IPython.display import display

from nb_oauth.errors import (
    InsufficientScope,
    NbOAuthError,
    PagingError,
    ReauthRequired,
    first_line,
)
from nb_oauth.fetch import fetch_pages
from nb_oauth.http_cell import (
    ApiCellError,
    ApiLine,
    ApiRequest,
    parse_api_cell,
    parse_api_line,
    parse_request_line,
)
from nb_oauth.jupyter.datasource_magic import unknown_datasource
from nb_oauth.jupyter.display import HttpErrorBlock, JsonDict, JsonList, TextBody
from nb_oauth.jupyter.reconnect import offer_reconnect
from nb_oauth.pages import PageRules
from nb_oauth.redact import redact_text, redact_url

if TYPE_CHECKING:
    from nb_oauth.jupyter.magics import NbOAuthMagics

__all__ = ["run_api_magic"]

_EXCERPT = 300


def run_api_magic(magics: NbOAuthMagics, line: str, cell: str | None) -> object:
    """Run one ``%%api`` cell or ``%api`` line; returns the value to display (and keep in ``_``)."""
    session = magics.context.session
    user_ns = magics.user_ns
    magic = "%%api" if cell is not None else "%api"
    try:
        parsed = parse_api_line(line, cell=cell is not None)
    except ApiCellError as exc:
        raise UsageError(f"{magic}: {exc}") from None
    name, output, want_response, words = (
        parsed.name, parsed.output, parsed.want_response, list(parsed.words)
    )
    if cell is None and len(words) == 2 and words[0] in session.names():
        name, words = words[0], words[1:]  # %api NAME URL: a GET
    name = name or _default_name(magics)
    if session.store.load_datasource(name) is None:
        raise UsageError(unknown_datasource(session, name))
    try:
        if cell is None:
            if not words:
                raise UsageError("%api: expected [NAME] METHOD URL, such as %api GET /api/me")
            method, url = parse_request_line(" ".join(words))
            request = parse_api_cell(f"{method} {url}", user_ns)
        else:
            request = parse_api_cell(cell, user_ns)
    except ApiCellError as exc:
        raise UsageError(f"%%api: {exc}") from None
    if parsed.all_pages:
        collection = _fetch_all(magics, name, request, parsed)
        if output is not None:
            user_ns[output] = _plain(collection)
        return collection
    response = _send(magics, name, request)
    if isinstance(response, HttpErrorBlock):
        display(response)
        value: object = None
    elif response.is_error:
        display(_error_block(response, session.datasource(name).query_param))
        value = response if want_response else None
    else:
        value = response if want_response else _body(response)
    if output is not None:
        user_ns[output] = _plain(value)
    return value


def _default_name(magics: NbOAuthMagics) -> str:
    context = magics.context
    if context.default:
        return context.default[0]
    names = context.session.names()
    if len(names) == 1:
        return names[0]
    known = ", ".join(names) or "none yet"
    raise UsageError(
        f"%%api: which datasource? Name it on the first line (%%api NAME) or choose a default "
        f"with %datasource use NAME (known: {known})"
    )


def _client(magics: NbOAuthMagics, name: str, request: ApiRequest) -> httpx.Client:
    datasource = magics.context.session.datasource(name)
    if not datasource.resource_origins:
        raise UsageError(
            f"%%api: {name} has no base_url, so nb_oauth does not know where its token may be "
            f"sent; set the API's root with %datasource edit {name} --base-url URL"
        )
    client = magics.client(name)
    if request.url.startswith("/") and client.base_url == httpx.URL(""):
        raise UsageError(
            f"%%api: {request.url} is relative but {name} has no base_url; give the full URL or "
            f"set one with %datasource edit {name} --base-url URL"
        )
    return client


def _send(
    magics: NbOAuthMagics, name: str, request: ApiRequest
) -> httpx.Response | HttpErrorBlock:
    """Send ``request``; an API's refusal for missing scopes comes back as the same error block
    as any other 4xx, everything else that goes wrong as one ``UsageError`` line."""
    client = _client(magics, name, request)
    try:
        return client.request(
            request.method,
            request.url,
            headers=list(request.headers),
            content=request.body.encode() if request.body is not None else None,
        )
    except InsufficientScope as exc:
        return HttpErrorBlock(
            method=request.method,
            status_code=exc.status_code,
            reason=httpx.codes.get_reason_phrase(exc.status_code),
            url=_url_of(exc, request.url),
            excerpt=first_line(exc),
        )
    except (NbOAuthError, httpx.HTTPError) as exc:
        raise _failed(magics, name, request, exc) from None


def _fetch_all(magics: NbOAuthMagics, name: str, request: ApiRequest, line: ApiLine) -> object:
    """``--all``: every page's items as one list (a DataFrame with ``--df``). A pull that stops
    early keeps what it fetched: the line goes to stderr and the items are the cell's value."""
    if request.method != "GET" or request.body is not None:
        raise UsageError("%%api --all follows the pages of a GET without a body")
    client = _client(magics, name, request)
    rules = PageRules(items=line.items, next_path=line.next_path, cursor_param=line.cursor_param)
    try:
        value = fetch_pages(
            client, request.url, headers=request.headers, rules=rules, max_pages=line.max_pages,
            df=line.df, name=name,
        )  # fmt: skip
    except ImportError as exc:  # --df without pandas: the line says what to install
        raise UsageError(f"%%api: {exc}") from None
    except PagingError as exc:
        if isinstance(exc.__cause__, ReauthRequired):
            offer_reconnect(magics.shell, magics.context.session, name)
        if not exc.pages:
            raise UsageError(first_line(exc)) from None
        print(first_line(exc), file=sys.stderr)
        value = exc.items
    except (NbOAuthError, httpx.HTTPError) as exc:
        raise _failed(magics, name, request, exc) from None
    return JsonList(value) if isinstance(value, list) else value


def _failed(
    magics: NbOAuthMagics, name: str, request: ApiRequest, exc: Exception
) -> UsageError:
    """The one line a call that failed becomes. nb_oauth's errors already say what to do
    (reconnect, fix a setting); one that needs a new sign-in also gets the Reconnect button
    under it, which signs in without blocking."""
    if isinstance(exc, ReauthRequired):
        offer_reconnect(magics.shell, magics.context.session, name)
    if isinstance(exc, NbOAuthError):
        return UsageError(first_line(exc))
    return UsageError(
        f"%%api: {request.method} {_url_of(exc, request.url)} failed: {type(exc).__name__}: "
        f"{redact_text(str(exc), limit=200)}"
    )


def _url_of(exc: Exception, fallback: str) -> str:
    """The redacted URL of the request that failed (the cell's URL when httpx has none)."""
    try:
        return redact_url(str(exc.request.url)) if isinstance(exc, httpx.HTTPError) else fallback
    except RuntimeError:  # httpx raises it for an error without a request
        return fallback


def _body(response: httpx.Response) -> object:
    if not response.content:
        print(f"HTTP {response.status_code} {response.reason_phrase} (no body)")
        return None
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return TextBody(response.text)
        if isinstance(data, dict):
            return JsonDict(data)
        if isinstance(data, list):
            return JsonList(data)
        return data
    if content_type.startswith("text/") or not content_type or "xml" in content_type:
        return TextBody(response.text)
    print(f"{len(response.content)} bytes of {content_type}; returned as bytes")
    return response.content


def _plain(value: object) -> Any:
    """What ``-o VAR`` stores: plain ``dict``/``list``/``str``, not the display wrappers."""
    if isinstance(value, JsonDict):
        return dict(value)
    if isinstance(value, JsonList):
        return list(value)
    if isinstance(value, TextBody):
        return str(value)
    return value


def _error_block(response: httpx.Response, query_param: str) -> HttpErrorBlock:
    return HttpErrorBlock(
        method=response.request.method,
        status_code=response.status_code,
        reason=response.reason_phrase,
        url=redact_url(str(response.request.url), [query_param]),
        excerpt=redact_text(response.text, limit=_EXCERPT),
    )
