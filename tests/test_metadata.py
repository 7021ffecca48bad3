"""RFC 8414 metadata: where it lives and what nb_oauth reads from it (SEC-15, SEC-21)."""

from __future__ import annotations

import json

import pytest

from nb_oauth.errors import ConfigError
from nb_oauth.grants.metadata import metadata_url, promises_iss


@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        ("https://as.example", "https://as.example/.well-known/oauth-authorization-server"),
        ("https://as.example/", "https://as.example/.well-known/oauth-authorization-server"),
        ("https://as.example/t1", "https://as.example/.well-known/oauth-authorization-server/t1"),
        ("https://as.example/t1/", "https://as.example/.well-known/oauth-authorization-server/t1"),
    ],
)
def test_metadata_url_inserts_the_well_known_path(issuer: str, url: str) -> None:
    # RFC 8414 §3.1 (SEC-21: issuer https://as/t1 requests /.well-known/.../t1)
    assert metadata_url(issuer) == url


def doc(**members: object) -> bytes:
    return json.dumps(members).encode()


def iss_doc(supported: object) -> bytes:
    return doc(issuer="https://as", authorization_response_iss_parameter_supported=supported)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, iss_doc(True), True),
        (200, iss_doc(False), False),
        (200, iss_doc("true"), False),
        (200, doc(issuer="https://as"), False),
        (404, b"not found", False),
        (200, b"<html>", False),
        (200, b"[]", False),
    ],
)
def test_promises_iss_only_when_the_metadata_says_true(
    status: int, body: bytes, expected: bool
) -> None:
    assert promises_iss("https://as", status, body) is expected


@pytest.mark.parametrize("stated", ["https://evil.example", "https://as/", None])
def test_metadata_for_another_issuer_is_refused(stated: str | None) -> None:
    # RFC 8414 §3.3: not identical means the document MUST NOT be used.
    body = doc(issuer=stated, authorization_response_iss_parameter_supported=True)
    with pytest.raises(ConfigError, match="issuer"):
        promises_iss("https://as", 200, body)
