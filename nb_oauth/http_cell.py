"""The ``%%api`` cell: one HTTP request in the ``.http`` file shape, parsed without IPython.

    POST /api/items                      <- METHOD URL (absolute, or relative to base_url)
    Content-Type: application/json       <- header lines
    X-Request-Id: {{ request_id }}
                                         <- a blank line
    {"name": "{{ name }}", "tags": {{ tags }}}   <- the body, sent as written

``{{ name }}`` (also ``{{ obj.attr }}``) is replaced by the value of a notebook variable: in the
URL it is percent-encoded as one path segment or query value; in headers and the body it is
inserted as text, except that dicts, lists, booleans and ``None`` are written as JSON, so a
Python value drops into a JSON body as is. Single braces are never touched, so JSON bodies need no
escaping. Lines starting with ``#`` or ``//`` before the body are comments. The first line may
also be just a URL (a GET), and may end with an ignored ``HTTP/1.1``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from nb_oauth.errors import NbOAuthError

__all__ = [
    "parse_api_line",
    "ApiCellError",
    "ApiLine",
    "ApiRequest",
    "fill_placeholders",
    "METHODS",
    "parse_api_cell",
    "parse_request_line",
]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
_HEADER = re.compile(r"^(?P<name>[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*:\s*(?P<value>.*)$")


class ApiCellError(NbOAuthError, ValueError):
    """The ``%%api`` cell is not one HTTP request; the message names the line and the fix."""


@dataclass(frozen=True)
class ApiRequest:
    """One request from a cell: ``url`` may be relative to the datasource's ``base_url``."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None


def parse_api_cell(text: str, namespace: Mapping[str, object]) -> ApiRequest:
    """Parse a cell into an :class:`ApiRequest`, filling ``{{ }}`` from ``namespace``.

    Raises :class:`ApiCellError` with the line number for a malformed cell or an unknown variable.
    Never evaluates code: a placeholder is a variable name with optional attributes.
    """
    lines = text.splitlines()
    index = _skip_comments(lines, 0)
    if index == len(lines):
        raise ApiCellError("the cell is empty; write a request such as: GET /api/me")
    # Placeholders first: "{{ name }}" has spaces, and its value is percent-encoded anyway.
    method, url = parse_request_line(
        _fill(lines[index], namespace, encode=True), line_number=index + 1
    )
    headers: list[tuple[str, str]] = []
    index += 1
    while index < len(lines) and lines[index].strip():
        line = lines[index]
        if not _is_comment(line):
            match = _HEADER.match(line.strip())
            if match is None:
                raise ApiCellError(
                    f"line {index + 1}: expected a header 'Name: value', or a blank line before "
                    "the body"
                )
            headers.append((match["name"], _fill(match["value"].strip(), namespace)))
        index += 1
    body = "\n".join(lines[index + 1 :]).strip("\n")
    return ApiRequest(
        method=method,
        url=url,
        headers=tuple(headers),
        body=_fill(body, namespace) if body.strip() else None,
    )


def parse_request_line(line: str, *, line_number: int = 1) -> tuple[str, str]:
    """``METHOD URL [HTTP/x.y]`` or just ``URL`` (a GET) → (method, url). Raises ApiCellError."""
    words = line.split()
    if len(words) == 1 and words[0].upper() not in METHODS:
        return "GET", words[0]
    if words and words[0].upper() in METHODS and (
        len(words) == 2 or (len(words) == 3 and words[2].upper().startswith("HTTP/"))
    ):
        return words[0].upper(), words[1]
    raise ApiCellError(
        f"line {line_number}: expected 'METHOD URL', such as 'GET /api/items' "
        f"(methods: {', '.join(METHODS)})"
    )


def _skip_comments(lines: list[str], index: int) -> int:
    while index < len(lines) and (not lines[index].strip() or _is_comment(lines[index])):
        index += 1
    return index


def _is_comment(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("#", "//"))


def fill_placeholders(
    text: str,
    namespace: Mapping[str, object],
    *,
    encode: Callable[[str], str] | None = None,
) -> str:
    """Replace each ``{{ name }}`` / ``{{ name.attr }}`` in ``text`` by that value's text
    (``encode`` then applied to it, e.g. percent-encoding or shell quoting).

    Raises :class:`ApiCellError` for an unknown name or attribute. Never evaluates code.
    """

    def value_of(match: re.Match[str]) -> str:
        path = match[1].split(".")
        if path[0] not in namespace:
            raise ApiCellError(
                f"{match[0]}: there is no variable named {path[0]!r} in the notebook"
            )
        value = namespace[path[0]]
        for attribute in path[1:]:
            try:
                value = getattr(value, attribute)
            except AttributeError:
                raise ApiCellError(f"{match[0]}: {attribute!r} is not an attribute") from None
        text = _as_text(value)
        return encode(text) if encode else text

    return _PLACEHOLDER.sub(value_of, text)


def _fill(text: str, namespace: Mapping[str, object], *, encode: bool = False) -> str:
    return fill_placeholders(text, namespace, encode=_percent_encode if encode else None)


def _percent_encode(text: str) -> str:
    return quote(text, safe="")


def _as_text(value: object) -> str:
    if isinstance(value, (dict, list, tuple, bool)) or value is None:
        return json.dumps(value)
    return str(value)


@dataclass(frozen=True)
class ApiLine:
    """The magic line of ``%%api`` / ``%api``, parsed.

    ``name``: the datasource (``None``: the default one); ``output``: the ``-o VAR`` variable;
    ``want_response``: ``--response``; ``words``: what follows the options on a ``%api`` line
    (``METHOD URL``). The whole-collection options: ``all_pages`` (``--all``), ``max_pages``
    (``--max-pages N``), ``items`` (``--items PATH``), ``next_path`` (``--next PATH``),
    ``cursor_param`` (``--cursor-param NAME``) and ``df`` (``--df``).
    """

    name: str | None = None
    output: str | None = None
    want_response: bool = False
    words: tuple[str, ...] = ()
    all_pages: bool = False
    max_pages: int | None = None
    items: str | None = None
    next_path: str | None = None
    cursor_param: str | None = None
    df: bool = False


_VALUE_OPTIONS = {
    "--max-pages": "max_pages",
    "--items": "items",
    "--next": "next_path",
    "--cursor-param": "cursor_param",
}
_PAGING_OPTIONS = ("--max-pages", "--items", "--next", "--cursor-param", "--df")
_OPTIONS_HELP = (
    "-o VAR, --response, --all [--max-pages N] [--items PATH] [--next PATH] "
    "[--cursor-param NAME] [--df]"
)


def parse_api_line(line: str, *, cell: bool) -> ApiLine:
    """The magic line of ``%%api`` (``[NAME] [-o VAR] [--response] [--all ...]``) or ``%api``
    (the same, then ``METHOD URL``). Raises :class:`ApiCellError`.
    """
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise ApiCellError(f"{exc} (check the quotes)") from None
    output: str | None = None
    want_response = False
    flags: dict[str, object] = {}
    given: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word in ("-o", "--output"):
            if index + 1 == len(words) or not words[index + 1].isidentifier():
                raise ApiCellError("-o needs a variable name, such as -o items")
            output = words[index + 1]
            index += 2
            continue
        if word in _VALUE_OPTIONS:
            if index + 1 == len(words) or words[index + 1].startswith("-"):
                raise ApiCellError(f"{word} needs a value, such as {word} {_EXAMPLES[word]}")
            flags[_VALUE_OPTIONS[word]] = words[index + 1]
            given.append(word)
            index += 2
            continue
        if word == "--response":
            want_response = True
        elif word == "--all":
            flags["all_pages"] = True
        elif word == "--df":
            flags["df"] = True
            given.append(word)
        elif word.startswith("-") and (cell or not rest):
            raise ApiCellError(f"unknown option {word!r}; options are {_OPTIONS_HELP}")
        else:
            rest.append(word)
        index += 1
    if given and not flags.get("all_pages"):
        raise ApiCellError(f"{given[0]} goes with --all (pull every page of a collection)")
    if flags.get("all_pages") and want_response:
        raise ApiCellError("--all returns the items of every page, not one response: drop one")
    max_pages = flags.pop("max_pages", None)
    if max_pages is not None:
        if not isinstance(max_pages, str) or not max_pages.isdigit() or int(max_pages) < 1:
            raise ApiCellError("--max-pages needs a whole number, 1 or more, such as 10")
        flags["max_pages"] = int(max_pages)
    options = {"output": output, "want_response": want_response, **flags}
    if cell:
        if len(rest) > 1:
            raise ApiCellError(f"the first line takes only [NAME] and the options {_OPTIONS_HELP}")
        return ApiLine(name=rest[0] if rest else None, **options)  # type: ignore[arg-type]
    if len(rest) >= 2 and rest[0].upper() not in METHODS and rest[1].upper() in METHODS:
        return ApiLine(name=rest[0], words=tuple(rest[1:]), **options)  # type: ignore[arg-type]
    return ApiLine(words=tuple(rest), **options)  # type: ignore[arg-type]


_EXAMPLES = {
    "--max-pages": "10",
    "--items": "data.rows",
    "--next": "meta.next",
    "--cursor-param": "cursor",
}
