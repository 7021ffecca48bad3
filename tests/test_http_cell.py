"""The %%api cell parser, without IPython (STYLE rule 9)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nb_oauth.http_cell import ApiCellError, ApiRequest, parse_api_cell


def test_request_line_headers_and_body() -> None:
    cell = (
        "POST /api/items HTTP/1.1\nContent-Type: application/json\nX-A:  b \n\n"
        '{"a": {"b": 1}}\n'
    )
    assert parse_api_cell(cell, {}) == ApiRequest(
        method="POST",
        url="/api/items",
        headers=(("Content-Type", "application/json"), ("X-A", "b")),
        body='{"a": {"b": 1}}',
    )


def test_a_bare_url_is_a_get_and_comments_are_skipped() -> None:
    cell = "\n# list them\n// really\nhttps://api.example/items\n# a header comment\nAccept: x\n"
    request = parse_api_cell(cell, {})
    assert (request.method, request.url, request.headers) == (
        "GET",
        "https://api.example/items",
        (("Accept", "x"),),
    )
    assert request.body is None


def test_method_is_case_insensitive() -> None:
    assert parse_api_cell("delete /x", {}).method == "DELETE"


def test_placeholders_fill_url_encoded_and_body_as_text_or_json() -> None:
    namespace = {
        "q": "a b&c",
        "user": SimpleNamespace(id=7),
        "payload": {"k": [1, True, None]},
        "name": 'Zoë "Z"',
    }
    cell = (
        "GET /search?q={{ q }}&u={{user.id}}\nX-Name: {{ name }}\n\n"
        '{"p": {{ payload }}, "raw": {"x": 1}}'
    )
    request = parse_api_cell(cell, namespace)
    assert request.url == "/search?q=a%20b%26c&u=7"
    assert request.headers == (("X-Name", 'Zoë "Z"'),)
    assert request.body == '{"p": {"k": [1, true, null]}, "raw": {"x": 1}}'


def test_single_braces_are_untouched() -> None:
    body = '{"a": {"b": {"c": 1}}}'
    assert parse_api_cell("POST /x\n\n" + body, {}).body == body


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("", "the cell is empty"),
        ("# nothing\n", "the cell is empty"),
        ("GET", "line 1: expected 'METHOD URL'"),
        ("GET /a /b", "line 1"),
        ("\nFETCH /x", "line 2"),
        ("GET /x\nno colon here", "line 2: expected a header"),
        ("GET /{{ nope }}", "no variable named 'nope'"),
        ("GET /{{ user.nope }}", "'nope' is not an attribute"),
    ],
)
def test_malformed_cells_name_the_line(cell: str, message: str) -> None:
    with pytest.raises(ApiCellError, match=message):
        parse_api_cell(cell, {"user": SimpleNamespace()})


def test_placeholders_never_evaluate_code() -> None:
    # Only names and attributes: an expression is not a placeholder and stays as written.
    request = parse_api_cell("POST /x\n\n{{ __import__('os') }}", {})
    assert request.body == "{{ __import__('os') }}"
