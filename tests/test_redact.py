"""Redaction of URLs (SEC-42, SEC-43) and of server text put in error messages (SEC-42, SEC-45)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from nb_oauth.redact import MASK, SENSITIVE_PARAMS, redact_text, redact_url

CANARY = "CANARY-SECRET-1f2e"


@pytest.mark.parametrize(
    "param",
    [
        "access_token",
        "code",
        "state",
        "refresh_token",
        "client_secret",
        "client_assertion",
        "device_code",
        "code_verifier",
        "id_token",
    ],
)
def test_redact_url_masks_each_sensitive_query_parameter(param: str) -> None:
    # SEC-43 lists these names for the httpx log filter.
    redacted = redact_url(f"https://api.example/cb?page=2&{param}={CANARY}")
    assert CANARY not in redacted
    assert dict(parse_qsl(urlsplit(redacted).query)) == {"page": "2", param: MASK}


def test_redact_url_masks_a_configured_token_parameter() -> None:
    # SEC-33: the query placement's parameter name is configurable.
    url = f"https://api.example/items?key={CANARY}"
    assert CANARY in redact_url(url)
    assert redact_url(url, extra_params=["key"]) == f"https://api.example/items?key={MASK}"


def test_redact_url_matches_names_case_insensitively_and_encoded() -> None:
    redacted = redact_url(f"https://h/?Access_Token={CANARY}&refresh%5Ftoken={CANARY}")
    assert CANARY not in redacted


def test_redact_url_masks_the_userinfo_password_only() -> None:
    assert redact_url(f"https://alice:{CANARY}@h.example/x") == f"https://alice:{MASK}@h.example/x"


def test_redact_url_masks_tokens_in_the_fragment() -> None:
    # RFC 6749 §4.2.2: implicit-style redirects put the token in the fragment.
    redacted = redact_url(f"http://127.0.0.1:5/cb#access_token={CANARY}&token_type=bearer")
    assert redacted == f"http://127.0.0.1:5/cb#access_token={MASK}&token_type=bearer"


def test_redact_url_keeps_harmless_urls_byte_for_byte() -> None:
    url = "https://api.example:8443/v1/items?q=a+b&sort=-name&flag#section"
    assert redact_url(url) == url


@pytest.mark.parametrize(
    "url",
    [f"http://[::1/cb?code={CANARY}", f"http://u:{CANARY}@[::1/x", f"https://[bad/#code={CANARY}"],
)
def test_redact_url_never_raises_and_still_masks_unparsable_urls(url: str) -> None:
    assert CANARY not in redact_url(url)


def test_sensitive_params_cover_sec_43() -> None:
    required = {"access_token", "code", "state", "refresh_token", "client_secret"}
    required |= {"client_assertion", "device_code", "code_verifier", "id_token"}
    assert required <= SENSITIVE_PARAMS


@pytest.mark.parametrize(
    "text",
    [
        f'{{"access_token": "{CANARY}", "token_type": "Bearer"}}',
        f'{{"refresh_token":"{CANARY}"}}',
        f"{{'client_secret': '{CANARY}'}}",
        f'{{"id_token": "{CANARY}',  # truncated body: unterminated string
        f'{{"code": "{CANARY}\\" still inside"}}',
        f"access_token={CANARY}&expires_in=3600",
        f"grant_type=authorization_code&code={CANARY}",
        f"Authorization: Bearer {CANARY}",
        f"Basic {CANARY}",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJDQU5BUlktU0VDUkVULTFmMmUifQ.c2ln",
        f"your key is {CANARY}x7Qm2vL9pR4tY8wZ3bN6cF1hJ5kD",  # long random run, unknown label
    ],
)
def test_redact_text_masks_credentials(text: str) -> None:
    redacted = redact_text(text)
    assert CANARY not in redacted
    assert "eyJzdWIi" not in redacted
    assert MASK in redacted


def test_redact_text_keeps_prose_and_non_secret_members() -> None:
    text = '{"error": "invalid_request", "error_code": 12, "expires_in": 3600}'
    assert redact_text(text) == text
    assert redact_text("Basic authentication failed") == "Basic authentication failed"


def test_redact_text_masks_known_secret_values_anywhere() -> None:
    # A server echoing the refresh token we sent in free text (SEC-42).
    assert redact_text(f"token {CANARY} was revoked", secrets=[CANARY]) == "token *** was revoked"


def test_redact_text_ignores_empty_known_secrets() -> None:
    assert redact_text("abc", secrets=[""]) == "abc"


def test_redact_text_makes_one_plain_line_from_html() -> None:
    html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>\tnginx</body></html>"
    assert redact_text(html) == "502 Bad Gateway nginx"


def test_redact_text_removes_control_and_bidi_characters() -> None:
    redacted = redact_text("a\x00b\x1b[31mc\u202ed\u2028e")
    assert redacted.isprintable()
    assert "\n" not in redacted


@pytest.mark.parametrize("limit", [1, 20, 200])
def test_redact_text_respects_the_limit(limit: int) -> None:
    redacted = redact_text("word " * 1000, limit=limit)
    assert len(redacted) <= limit
    assert redacted.endswith("…")


def test_redact_text_masks_a_key_whose_value_straddles_the_scan_limit() -> None:
    text = "x " * 2035 + f'"access_token": "{CANARY}"'  # the value starts 9 chars before it
    redacted = redact_text(text, limit=10_000)
    assert "CANARY" not in redacted
    assert redacted.endswith(f'"access_token": "{MASK}"')
