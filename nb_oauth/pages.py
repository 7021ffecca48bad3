"""Whole collections, page by page: where the next page is, and which part of a page is the items.

No HTTP and no IPython here: `nb_oauth.fetch` sends the requests and reads the answers into a
`Walk`, which keeps the items and says which URL comes next.

Next page, in this order (the first that gives one wins):

1. RFC 8288 ``Link: <...>; rel="next"`` (GitHub, GitLab, Okta);
2. a next URL in the body: ``@odata.nextLink`` (Microsoft Graph), ``next``, ``links.next``
   (a string, or JSON:API's ``{"href": ...}``), ``paging.next`` (Meta), ``nextRecordsUrl``
   (Salesforce);
3. a cursor in the body, sent back as a query parameter of the first request:
   ``response_metadata.next_cursor`` → ``cursor`` (Slack), ``nextPageToken`` → ``pageToken``
   (Google), ``has_more`` + the last item's ``id`` → ``starting_after`` (Stripe).

``next_path`` (``--next PATH``) replaces those rules: the value at that dotted path is the next URL,
or, with ``cursor_param`` (``--cursor-param NAME``), a cursor sent as that parameter.
``cursor_param`` alone renames the parameter a cursor of rule 3 is sent as.

Items: the list at ``items`` (``--items PATH``, dotted), else the body when it is a list, else the
one list under a known key (`ITEM_KEYS`).

A next URL on another origin than the first page is refused: the token never follows it
(security.md#next-page-links). So is a next URL seen before (a loop), and the walk stops at
``max_pages`` (default `DEFAULT_MAX_PAGES`) so a cursor that never ends cannot run forever.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from nb_oauth.redact import redact_text, redact_url

__all__ = [
    "DEFAULT_MAX_PAGES",
    "ITEM_KEYS",
    "PageProblem",
    "PageRules",
    "Walk",
    "items_of",
    "json_body",
    "next_link",
]

#: The page cap when the caller gives none: a cursor that never ends stops here, with a warning.
DEFAULT_MAX_PAGES = 1000
#: Keys whose list is the page's items, when the caller names none.
ITEM_KEYS = ("items", "data", "value", "results", "records", "entries", "elements", "members")
_BODY_NEXT_URLS: tuple[tuple[str, ...], ...] = (
    ("@odata.nextLink",),
    ("next",),
    ("links", "next"),
    ("paging", "next"),
    ("nextRecordsUrl",),
)
_CURSORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("response_metadata", "next_cursor"), "cursor"),
    (("nextPageToken",), "pageToken"),
)
_KEYS_SHOWN = 12


class PageProblem(ValueError):
    """A page cannot be used (the message says why and what to pass); `status_code` is set when
    the page was an HTTP error answer."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class PageRules:
    """The caller's choices: ``items`` (dotted path of the item list), ``next_path`` (dotted path
    of the next URL, or of the cursor with ``cursor_param``), ``cursor_param``."""

    items: str | None = None
    next_path: str | None = None
    cursor_param: str | None = None

    def __post_init__(self) -> None:
        for name in ("items", "next_path", "cursor_param"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string")


def _path(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(".") if part)


def _keys(value: Mapping[str, Any]) -> str:
    keys = [str(key) for key in value]
    shown = ", ".join(keys[:_KEYS_SHOWN])
    more = f" and {len(keys) - _KEYS_SHOWN} more" if len(keys) > _KEYS_SHOWN else ""
    return (shown + more) or "none"


def _at(body: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def items_of(body: Any, items: str | None = None) -> list[Any]:
    """The items of one page (see the module docstring). Raises `PageProblem` naming the keys the
    page has when the path is missing or there is no one list to take."""
    if items is not None:
        value = body
        walked: list[str] = []
        for key in _path(items):
            where = f" under {'.'.join(walked)!r}" if walked else ""
            if not isinstance(value, dict):
                kind = type(value).__name__
                raise PageProblem(
                    f"items path {items!r}: the page has a {kind}{where}, not an object with "
                    f"{key!r}"
                )
            if key not in value:
                raise PageProblem(
                    f"items path {items!r}: the page has no {key!r}{where}; its keys are: "
                    f"{_keys(value)}"
                )
            value = value[key]
            walked.append(key)
        if not isinstance(value, list):
            raise PageProblem(
                f"items path {items!r} holds a {type(value).__name__}, not a list"
            )
        return value
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        raise PageProblem(f"the page is a JSON {type(body).__name__}, not a list or an object")
    found = [key for key in ITEM_KEYS if isinstance(body.get(key), list)]
    if len(found) == 1:
        items_list: list[Any] = body[found[0]]
        return items_list
    if found:
        raise PageProblem(
            f"the page has several lists ({', '.join(found)}); choose one with items=PATH "
            "(--items PATH)"
        )
    lists = [str(key) for key, value in body.items() if isinstance(value, list)]
    hint = f" (lists: {', '.join(lists[:_KEYS_SHOWN])})" if lists else ""
    raise PageProblem(
        f"no list of items under a known key; the page's keys are: {_keys(body)}{hint}; name "
        "the list with items=PATH (--items PATH)"
    )


def _url_value(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("href")  # JSON:API links objects
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


@dataclass(frozen=True)
class _Next:
    url: str | None = None
    cursor: tuple[str, str] | None = None  # (parameter, value)
    rule: str = ""


def next_link(
    links: Mapping[str | None, Mapping[str, str]],
    body: Any,
    items: Sequence[Any],
    rules: PageRules,
) -> _Next | None:
    """Where the next page is, by the rules of the module docstring; ``None`` at the end.
    ``links`` is httpx's parsed ``Link`` header (`httpx.Response.links`)."""
    if rules.next_path is not None:
        value = _at(body, _path(rules.next_path))
        if rules.cursor_param is not None:
            if value is None or value == "" or value is False:
                return None
            return _Next(cursor=(rules.cursor_param, str(value)), rule=f"next {rules.next_path}")
        url = _url_value(value)
        return _Next(url=url, rule=f"next {rules.next_path}") if url else None
    link = links.get("next")
    if link and link.get("url"):
        return _Next(url=link["url"], rule="Link rel=next")
    if not isinstance(body, dict):
        return None
    for path in _BODY_NEXT_URLS:
        url = _url_value(_at(body, path))
        if url is not None and (url.startswith(("http://", "https://", "/", "?"))):
            return _Next(url=url, rule=".".join(path))
    for path, param in _CURSORS:
        value = _at(body, path)
        if isinstance(value, str) and value:
            return _Next(cursor=(rules.cursor_param or param, value), rule=".".join(path))
    if body.get("has_more") is True:
        last = items[-1] if items else None
        if isinstance(last, dict) and isinstance(last.get("id"), (str, int)):
            param = rules.cursor_param or "starting_after"
            return _Next(cursor=(param, str(last["id"])), rule="has_more")
        raise PageProblem(
            "the page says has_more but its last item has no id to continue after; name the "
            "next page with next_path=PATH (--next PATH)"
        )
    return None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> str:
    port = url.port or _DEFAULT_PORTS.get(url.scheme)
    return f"{url.scheme}://{url.host}:{port}"


def _resolve(base: httpx.URL, base_origin: str, reference: str) -> tuple[str, str]:
    """``reference`` against the page ``base`` (RFC 3986 §5) → (the URL to get, its origin).

    The two common shapes are resolved as text, so the URL is parsed once, by the client, as in
    a hand-written loop: an absolute path keeps the page's origin, and an absolute URL with an
    ASCII host is split by `urllib.parse`; anything else goes through `httpx.URL.join`.
    """
    if reference.startswith("/") and not reference.startswith("//"):
        root = f"{base.scheme}://{base.netloc.decode('ascii')}"
        return root + reference, base_origin
    if reference.startswith(("http://", "https://")) and reference.isascii():
        parts = urlsplit(reference)
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
        except ValueError:  # a port that is not a number
            port = None
        host = (parts.hostname or "").lower()
        return reference, f"{parts.scheme.lower()}://{host}:{port}"
    joined = base.join(reference)
    return str(joined), _origin(joined)


class Walk:
    """One pull: the items so far, the pages read, and the next URL to get.

    ``first`` is the absolute URL of the first page (its query holds the caller's params).
    `read(response_url, links, body)` takes one parsed page and returns the next page's absolute
    URL (text), or ``None`` at the end. Raises `PageProblem` for a loop, another origin, or a
    page without items; the items read before stay in ``items``.
    """

    def __init__(self, first: httpx.URL, rules: PageRules, max_pages: int) -> None:
        self.first = first
        self.rules = rules
        self.max_pages = max_pages
        self.items: list[Any] = []
        self.pages = 0
        self.more = False  # the walk stopped at max_pages with a next page left
        self._origin = _origin(first)
        self._seen = {str(first)}

    def read(
        self,
        url: httpx.URL,
        links: Mapping[str | None, Mapping[str, str]],
        body: Any,
    ) -> str | None:
        page_items = items_of(body, self.rules.items)
        self.items.extend(page_items)
        self.pages += 1
        found = next_link(links, body, page_items, self.rules)
        if found is None:
            return None
        if found.cursor is not None:
            name, value = found.cursor
            following = self.first.copy_set_param(name, value)
            key, origin = str(following), self._origin
        else:
            assert found.url is not None
            key, origin = _resolve(url, self._origin, found.url)
        if origin != self._origin:
            # security.md#next-page-links: the token goes only where the first page went.
            raise PageProblem(
                f"the next page ({found.rule}) is on another origin, {origin.rsplit(':', 1)[0]}, "
                "than the first page; nb_oauth does not send the token there"
            )
        if key in self._seen:
            raise PageProblem(
                f"the next page ({found.rule}) repeats a page already read "
                f"({redact_url(key)}): the server's pages loop"
            )
        if self.pages >= self.max_pages:
            self.more = True
            return None
        self._seen.add(key)
        return key


def json_body(content: bytes, content_type: str, status_code: int, page: int) -> Any:
    """The JSON of page ``page``. Raises `PageProblem` for an error status or a body that is not
    JSON (with a short redacted excerpt)."""
    if status_code >= 400:
        raise PageProblem(
            f"page {page} answered HTTP {status_code}: "
            f"{redact_text(content.decode('utf-8', 'replace'), limit=120)}",
            status_code=status_code,
        )
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        kind = content_type.split(";")[0].strip() or "no Content-Type"
        excerpt = redact_text(content.decode("utf-8", "replace"), limit=80)
        raise PageProblem(
            f"page {page} is not JSON (HTTP {status_code}, {kind}): \"{excerpt}\""
        ) from None
