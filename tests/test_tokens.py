"""TokenSet and the token response parser: SEC-22, -23, -24, -25, -30, -41, -45."""

from __future__ import annotations

import copy
import json
import pickle
import pprint
import warnings
from collections.abc import Sequence
from typing import Any

import pytest
from IPython.core.formatters import DisplayFormatter

from nb_oauth.errors import (
    ClientConfigError,
    NbOAuthWarning,
    ReauthRequired,
    ScopeError,
    TokenEndpointError,
    TokenError,
)
from nb_oauth.secret import Secret
from nb_oauth.tokens import MAX_TOKEN_RESPONSE_BYTES, TokenSet, parse_token_response

CANARY = "CANARY-SECRET-1f2e"
REFRESH_CANARY = "CANARY-REFRESH-7a9b"
NOW = 1_000_000.0
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def parse(
    body: bytes | dict[str, Any],
    *,
    status_code: int = 200,
    content_type: str | None = JSON,
    requested_scopes: Sequence[str] = ("read", "write"),
    grant: str = "authorization_code",
    **options: Any,
) -> TokenSet:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return parse_token_response(
        status_code=status_code,
        content_type=content_type,
        body=raw,
        requested_scopes=requested_scopes,
        now=NOW,
        grant=grant,
        **options,
    )


def token(**members: Any) -> dict[str, Any]:
    return {"access_token": CANARY, "token_type": "Bearer", "expires_in": 3600, **members}


def renderings(obj: object) -> list[str]:
    data, metadata = DisplayFormatter().format(obj)
    return [repr(obj), str(obj), pprint.pformat(obj), str(data), str(metadata)]


# --- the happy path ---------------------------------------------------------------------------


def test_a_complete_response_becomes_a_token_set() -> None:
    tokens = parse(token(refresh_token=REFRESH_CANARY, scope="read"))
    assert tokens.access_token == Secret(CANARY)
    assert tokens.refresh_token == Secret(REFRESH_CANARY)
    assert tokens.token_type == "Bearer"
    assert (tokens.obtained_at, tokens.expires_at) == (NOW, NOW + 3600)
    assert tokens.granted_scopes == ("read",)


def test_unknown_members_are_ignored() -> None:
    # RFC 6749 §5.1: "The client MUST ignore unrecognized value names."
    assert parse(token(id_token="x", foo={"bar": [1]})).access_token == Secret(CANARY)


def test_content_type_parameters_and_case_are_ignored() -> None:
    assert parse(token(), content_type="Application/JSON; charset=UTF-8").token_type == "Bearer"


def test_json_with_a_byte_order_mark_parses() -> None:
    assert parse(b"\xef\xbb\xbf" + json.dumps(token()).encode()).token_type == "Bearer"


def test_form_encoded_response_parses_when_the_content_type_says_so() -> None:
    # SEC-45, oauthlib's test_url_encoded_token_response
    body = f"access_token={CANARY}&token_type=bearer&expires_in=60&scope=read+write".encode()
    tokens = parse(body, content_type=f"{FORM}; charset=utf-8")
    assert tokens.access_token == Secret(CANARY)
    assert tokens.expires_at == NOW + 60
    assert tokens.granted_scopes == ("read", "write")


@pytest.mark.parametrize("content_type", [JSON, "text/plain", None])
def test_form_encoded_bodies_under_another_content_type_are_refused(
    content_type: str | None,
) -> None:
    with pytest.raises(TokenEndpointError) as info:
        parse(f"access_token={CANARY}&token_type=bearer".encode(), content_type=content_type)
    assert CANARY not in str(info.value)


def test_json_under_a_wrong_label_still_parses() -> None:
    assert parse(json.dumps(token()).encode(), content_type="text/plain").token_type == "Bearer"


# --- SEC-22: token_type ------------------------------------------------------------------------


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "bEaReR", "BEARER"])
def test_token_type_is_case_insensitive(token_type: str) -> None:
    assert parse(token(token_type=token_type)).token_type == "Bearer"


def test_missing_token_type_means_bearer_with_a_warning() -> None:
    body = {"access_token": CANARY, "expires_in": 60}
    with pytest.warns(NbOAuthWarning, match="no token_type; assuming Bearer") as record:
        assert parse(body).token_type == "Bearer"
    assert all(CANARY not in str(warning.message) for warning in record)


def test_missing_token_type_warns_once_under_default_filters() -> None:
    body = {"access_token": CANARY}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        for _ in range(3):
            parse(body)
    assert len([w for w in record if w.category is NbOAuthWarning]) == 1


def test_strict_token_type_refuses_a_missing_token_type() -> None:
    with pytest.raises(TokenEndpointError, match="token_type is missing"):
        parse({"access_token": CANARY}, strict_token_type=True)


@pytest.mark.parametrize("token_type", ["mac", "DPoP", "N_A", "", 5, ["Bearer"]])
def test_unknown_token_types_are_not_used(token_type: Any) -> None:
    # RFC 6749 §7.1: the client MUST NOT use a token whose type it does not understand.
    with pytest.raises(TokenEndpointError, match="token_type"):
        parse(token(token_type=token_type))


def test_an_unusable_token_type_does_not_warn_about_expires_in_first() -> None:
    with pytest.raises(TokenEndpointError):
        parse(token(token_type="mac", expires_in="soon"))


# --- SEC-23: expires_in, scope, refresh_token ---------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(3600, 3600), ("3600", 3600), (" 3600 ", 3600), (3599.5, 3599.5), ("60.5", 60.5), (1, 1)],
)
def test_expires_in_accepts_numbers_and_numeric_strings(expires_in: Any, lifetime: float) -> None:
    assert parse(token(expires_in=expires_in)).expires_at == NOW + lifetime


@pytest.mark.parametrize("members", [{}, {"expires_in": None}])
def test_missing_expires_in_means_unknown_without_a_warning(members: dict[str, Any]) -> None:
    body = {"access_token": CANARY, "token_type": "bearer", **members}
    assert parse(body).expires_at is None


@pytest.mark.parametrize(
    "expires_in",
    [
        -5,
        "-5",
        "abc",
        0,
        "0",
        366 * 24 * 3600,
        "1e3",
        "\u0663\u0666\u0660\u0660",
        10**400,
        "9" * 400,
        1e308 * 10,
        True,
        [60],
        {"s": 60},
        "",
        "  ",
    ],
)
def test_unusable_expires_in_is_unknown_with_a_warning(expires_in: Any) -> None:
    with pytest.warns(NbOAuthWarning, match="expiry is treated as unknown"):
        assert parse(token(expires_in=expires_in)).expires_at is None


def test_one_year_is_still_accepted() -> None:
    assert parse(token(expires_in=365 * 24 * 3600)).expires_at == NOW + 365 * 24 * 3600


def test_non_finite_expires_in_is_unknown() -> None:
    with pytest.warns(NbOAuthWarning):
        assert (
            parse(b'{"access_token": "a", "token_type": "bearer", "expires_in": NaN}').expires_at
            is None
        )


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        ("read", ("read",)),
        ("read write", ("read", "write")),
        ("repo,gist", ("repo", "gist")),  # GitHub comma-separates
        ("read  read write", ("read", "write")),
        (["read", "admin"], ("read", "admin")),
        ("", ("read", "write")),
        (None, ("read", "write")),
        (5, ("read", "write")),
    ],
)
def test_granted_scope_replaces_the_requested_scope_when_present(
    scope: Any, granted: tuple[str, ...]
) -> None:
    # RFC 6749 §5.1, §3.3
    assert parse(token(scope=scope)).granted_scopes == granted


def test_absent_scope_means_the_requested_scopes() -> None:
    assert parse(token(), requested_scopes=["a", "b", "a"]).granted_scopes == ("a", "b")


@pytest.mark.parametrize("refresh_token", [None, ""])
def test_absent_or_empty_refresh_token_is_none(refresh_token: Any) -> None:
    assert parse(token(refresh_token=refresh_token)).refresh_token is None


@pytest.mark.parametrize("refresh_token", [5, {"v": REFRESH_CANARY}, "has space", "é"])
def test_malformed_refresh_token_is_refused_without_echo(refresh_token: Any) -> None:
    with pytest.raises(TokenEndpointError, match="refresh_token") as info:
        parse(token(refresh_token=refresh_token))
    assert REFRESH_CANARY not in str(info.value)


@pytest.mark.parametrize("refresh_token", [REFRESH_CANARY, 5])
def test_client_credentials_ignores_any_refresh_token(refresh_token: Any) -> None:
    # SEC-30, RFC 6749 §4.4.3
    tokens = parse(token(refresh_token=refresh_token), grant="client_credentials")
    assert tokens.refresh_token is None


# --- SEC-24: error responses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_code", "error", "cls"),
    [
        (400, "invalid_grant", ReauthRequired),
        (401, "invalid_client", ClientConfigError),
        (400, "unauthorized_client", ClientConfigError),
        (400, "invalid_scope", ScopeError),
        (400, "invalid_request", TokenError),
        (400, "unsupported_grant_type", TokenError),
        (200, "bad_verification_code", TokenError),  # GitHub answers errors with a 200
        (503, "temporarily_unavailable", TokenError),
    ],
)
def test_json_error_bodies_map_to_token_errors(
    status_code: int, error: str, cls: type[TokenError | ReauthRequired]
) -> None:
    with pytest.raises((TokenError, ReauthRequired)) as info:
        parse({"error": error, "error_description": "nope"}, status_code=status_code)
    assert type(info.value) is cls
    assert (info.value.error, info.value.status_code) == (error, status_code)


def test_form_encoded_error_bodies_map_too() -> None:
    with pytest.raises(ReauthRequired):
        parse(b"error=invalid_grant&error_description=expired", status_code=400, content_type=FORM)


def test_reauth_required_names_the_datasource() -> None:
    with pytest.raises(ReauthRequired, match=r"nb_oauth\.connect\('crm'\)"):
        parse({"error": "invalid_grant"}, status_code=400, datasource="crm")


def test_an_echoed_refresh_token_is_masked_in_the_error() -> None:
    body = {"error": "invalid_grant", "error_description": f"token {REFRESH_CANARY} revoked"}
    with pytest.raises(ReauthRequired) as info:
        parse(body, status_code=400, secrets=[Secret(REFRESH_CANARY)])
    assert REFRESH_CANARY not in str(info.value)


def test_an_echoed_secret_is_masked_in_a_non_json_snippet() -> None:
    body = f"refresh failed for {REFRESH_CANARY}".encode()
    with pytest.raises(TokenEndpointError) as info:
        parse(body, status_code=500, content_type="text/plain", secrets=[Secret(REFRESH_CANARY)])
    assert REFRESH_CANARY not in str(info.value)
    assert "refresh failed for ***" in str(info.value)


def test_a_null_error_member_is_no_error() -> None:
    assert parse(token(error=None)).access_token == Secret(CANARY)


# --- SEC-45: bad server input ------------------------------------------------------------------

HTML_LOGIN = (
    f"<html><head><title>Sign in</title></head><body><form action='/login?state={CANARY}'>"
    f"<input type='hidden' name='code' value='{CANARY}'>Please sign in. code={CANARY}</form>"
)

BAD_RESPONSES = {
    "html 200": (200, "text/html", HTML_LOGIN.encode()),
    "html 502": (502, "text/html; charset=utf-8", b"<html><h1>502 Bad Gateway</h1></html>"),
    "text/plain": (200, "text/plain", b"Service temporarily down"),
    "empty list": (200, JSON, b"[]"),
    "null": (200, JSON, b"null"),
    "bare json string": (200, JSON, json.dumps(CANARY).encode()),
    "list with token": (200, JSON, json.dumps([CANARY]).encode()),
    "non-string access_token": (200, JSON, b'{"access_token": 5}'),
    "object access_token": (200, JSON, json.dumps({"access_token": {"v": CANARY}}).encode()),
    "empty access_token": (200, JSON, b'{"access_token": "", "token_type": "bearer"}'),
    "camelCase only": (200, JSON, json.dumps({"accessToken": CANARY}).encode()),
    "access_token with newline": (
        200,
        JSON,
        json.dumps({"access_token": CANARY + "\r\nX: y"}).encode(),
    ),
    "empty body": (200, JSON, b""),
    "whitespace body": (200, JSON, b"  \n"),
    "huge body": (200, JSON, b'{"access_token": "' + b"a" * (5 * 1024 * 1024) + b'"}'),
    "not utf-8": (200, JSON, b"\xff\xfe{"),
    "deeply nested": (200, JSON, b"[" * 100_000),
    "duplicate member": (200, JSON, b'{"access_token": "a", "access_token": "b"}'),
    "500 json without error": (500, JSON, json.dumps({"message": CANARY}).encode()),
    "404 no content type": (404, None, b"Not Found"),
    "302 to a login page": (302, "text/html", b"<a href='/login'>moved</a>"),
    "error object": (400, JSON, json.dumps({"error": {"code": 1, "message": CANARY}}).encode()),
    "form with bad pair": (200, FORM, b"access_token"),
    "form duplicate": (200, FORM, b"access_token=a&access_token=b"),
}


@pytest.mark.parametrize(
    ("status_code", "content_type", "body"), BAD_RESPONSES.values(), ids=BAD_RESPONSES
)
def test_bad_server_input_raises_a_short_typed_error(
    status_code: int, content_type: str | None, body: bytes
) -> None:
    with pytest.raises(TokenEndpointError) as info:
        parse(body, status_code=status_code, content_type=content_type)
    message = str(info.value)
    assert len(message) < 500
    assert len(info.value.snippet) <= 200
    assert CANARY not in message
    assert info.value.status_code == status_code
    assert not isinstance(info.value, (KeyError, json.JSONDecodeError))


def test_html_pages_are_named_as_such() -> None:
    with pytest.raises(TokenEndpointError, match="HTML page") as info:
        parse(
            b"<html><title>502 Bad Gateway</title></html>",
            status_code=502,
            content_type="text/html",
        )
    assert info.value.snippet == "502 Bad Gateway"
    assert info.value.content_type == "text/html"


def test_malformed_form_bodies_are_named_as_such() -> None:
    with pytest.raises(TokenEndpointError, match="form-encoded body is malformed"):
        parse(b"access_token", content_type=FORM)


def test_json_objects_are_described_by_member_names_only() -> None:
    with pytest.raises(TokenEndpointError) as info:
        parse({"accessToken": CANARY, "expiresIn": 60})
    assert info.value.snippet == "members: accessToken, expiresIn"


def test_the_size_limit_is_one_mebibyte() -> None:
    assert MAX_TOKEN_RESPONSE_BYTES == 1024 * 1024
    padding = b" " * (MAX_TOKEN_RESPONSE_BYTES - len(json.dumps(token())))
    assert parse(json.dumps(token()).encode() + padding).token_type == "Bearer"
    with pytest.raises(TokenEndpointError, match="larger than"):
        parse(json.dumps(token()).encode() + padding + b" ")


# --- TokenSet ----------------------------------------------------------------------------------


def make_tokens(lifetime: float | None, obtained_at: float = 0.0) -> TokenSet:
    expires_at = None if lifetime is None else obtained_at + lifetime
    return TokenSet(access_token=Secret(CANARY), expires_at=expires_at, obtained_at=obtained_at)


@pytest.mark.parametrize(
    ("now", "expired"),
    [(3600 - 61, False), (3600 - 60, True), (3600 - 59, True), (3600, True), (9999, True)],
)
def test_refresh_is_due_leeway_seconds_before_expiry(now: float, expired: bool) -> None:
    # SEC-25: at expires_at-59 refresh, at expires_at-61 not.
    assert make_tokens(3600).is_expired(now, leeway=60) is expired


@pytest.mark.parametrize(("now", "expired"), [(149, False), (150, True)])
def test_leeway_never_exceeds_half_the_lifetime(now: float, expired: bool) -> None:
    # SPEC section 1: a 5-minute token must not refresh on every call.
    assert make_tokens(300).is_expired(now, leeway=600) is expired


def test_a_short_token_is_not_refreshed_right_after_it_was_obtained() -> None:
    assert make_tokens(60, obtained_at=NOW).is_expired(NOW + 1, leeway=60) is False


def test_unknown_expiry_is_never_proactively_expired() -> None:
    assert make_tokens(None).is_expired(1e12, leeway=60) is False
    assert make_tokens(None).expires_in(NOW) is None


def test_expires_in_counts_down_on_the_given_clock() -> None:
    assert make_tokens(3600, obtained_at=NOW).expires_in(NOW + 600) == 3000


def test_refresh_without_a_new_refresh_token_keeps_the_old_one() -> None:
    # RFC 6749 §6, SEC-23
    old = TokenSet(access_token=Secret("a1"), refresh_token=Secret(REFRESH_CANARY), obtained_at=0)
    new = TokenSet(access_token=Secret("a2"), obtained_at=10)
    merged = old.with_refresh(new)
    assert (merged.access_token, merged.refresh_token, merged.obtained_at) == (
        Secret("a2"),
        Secret(REFRESH_CANARY),
        10,
    )


def test_a_rotated_refresh_token_replaces_the_old_one() -> None:
    # RFC 6749 §6: "the client MUST discard the old refresh token"
    old = TokenSet(access_token=Secret("a1"), refresh_token=Secret("r1"), obtained_at=0)
    new = TokenSet(access_token=Secret("a2"), refresh_token=Secret("r2"), obtained_at=10)
    assert old.with_refresh(new).refresh_token == Secret("r2")


def test_secret_json_round_trips_and_is_versioned() -> None:
    tokens = parse(token(refresh_token=REFRESH_CANARY, scope="read"))
    stored = tokens.to_secret_json()
    assert isinstance(stored, Secret)
    assert json.loads(stored.reveal())["v"] == 1
    assert TokenSet.from_secret_json(stored) == tokens
    assert TokenSet.from_secret_json(stored.reveal()) == tokens


def test_secret_json_round_trips_unknown_expiry_and_no_refresh_token() -> None:
    tokens = make_tokens(None)
    assert TokenSet.from_secret_json(tokens.to_secret_json()) == tokens


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        "[]",
        json.dumps({"v": 2, "access_token": CANARY}),
        json.dumps({"v": 1, "access_token": CANARY}),
        json.dumps({"v": 1, "access_token": 5, "token_type": "Bearer", "expires_at": None,
                    "refresh_token": None, "granted_scopes": [], "obtained_at": 0}),
        json.dumps({"v": 1, "access_token": CANARY, "token_type": "Bearer", "expires_at": "soon",
                    "refresh_token": None, "granted_scopes": [], "obtained_at": 0}),
    ],
)  # fmt: skip
def test_a_corrupt_stored_entry_raises_value_error_without_echo(stored: str) -> None:
    with pytest.raises(ValueError) as info:
        TokenSet.from_secret_json(stored)
    assert CANARY not in str(info.value)


def test_token_set_renderings_never_show_tokens() -> None:
    # SEC-41
    tokens = parse(token(refresh_token=REFRESH_CANARY))
    for text in renderings(tokens) + renderings([tokens]):
        assert CANARY not in text
        assert REFRESH_CANARY not in text
    assert "refresh_token=Secret('***')" in repr(tokens)


def test_token_set_refuses_pickling() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(parse(token()))


def test_token_set_copies_are_itself() -> None:
    tokens = parse(token())
    assert copy.deepcopy(tokens) is tokens


def test_token_set_requires_secret_wrapped_tokens() -> None:
    with pytest.raises(TypeError):
        TokenSet(access_token=CANARY, obtained_at=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TokenSet(access_token=Secret("a"), refresh_token=CANARY, obtained_at=0)  # type: ignore[arg-type]


# -- provider quirks that need no switch (SPEC section 10) -------------------------------------


def test_an_absolute_expires_at_is_used_when_expires_in_is_absent() -> None:
    # Strava documents expires_at (epoch seconds) beside expires_in; some answers carry only it.
    tokens = parse({"access_token": "a", "token_type": "Bearer", "expires_at": NOW + 21600})
    assert tokens.expires_at == NOW + 21600
    both = parse({"access_token": "a", "token_type": "Bearer", "expires_in": 60,
                  "expires_at": NOW + 21600})
    assert both.expires_at == NOW + 60  # expires_in (RFC 6749) wins


def test_an_expires_at_in_the_past_or_not_a_number_is_ignored_with_a_warning() -> None:
    with pytest.warns(NbOAuthWarning, match="expiry is treated as unknown"):
        tokens = parse({"access_token": "a", "token_type": "Bearer", "expires_at": NOW - 5})
    assert tokens.expires_at is None
    with pytest.warns(NbOAuthWarning):
        assert parse({"access_token": "a", "token_type": "Bearer",
                      "expires_at": "tomorrow"}).expires_at is None


def test_ok_false_without_an_error_code_is_a_failure_even_with_http_200() -> None:
    # Slack answers every call with {"ok": ...}; with an "error" member it maps like any error.
    with pytest.raises(TokenEndpointError, match="ok: false"):
        parse({"ok": False, "access_token": "a"})
    with pytest.raises(TokenError) as info:
        parse({"ok": False, "error": "invalid_code"})
    assert info.value.error == "invalid_code" and info.value.status_code == 200


def test_a_nested_token_set_is_read_from_its_member_and_sent_as_bearer() -> None:
    # Slack: the user's token sits in authed_user, with token_type "user".
    body = {"ok": True, "access_token": "xoxb-bot", "token_type": "bot",
            "authed_user": {"access_token": "xoxp-user", "token_type": "user",
                            "refresh_token": "xoxe-1", "expires_in": 43200, "scope": "a,b"}}
    tokens = parse(body, token_member="authed_user")
    assert tokens.access_token.reveal() == "xoxp-user" and tokens.token_type == "Bearer"
    assert tokens.refresh_token is not None and tokens.granted_scopes == ("a", "b")
    with pytest.raises(TokenEndpointError, match="no authed_user object"):
        parse({"ok": True, "team": {}}, token_member="authed_user")


def test_refresh_expires_in_zero_is_not_an_expired_refresh_token() -> None:
    # Keycloak offline tokens: refresh_expires_in 0 means "no fixed expiry"
    # (docs/provider-notes/keycloak.md); the refresh token is kept and used.
    tokens = parse({"access_token": "a", "token_type": "Bearer", "expires_in": 300,
                    "refresh_token": "r", "refresh_expires_in": 0})
    assert tokens.refresh_token is not None and tokens.refresh_token.reveal() == "r"
    assert tokens.expires_at == NOW + 300
