"""The exception tree: RFC 6749 §5.2 mapping (SEC-24), safe messages (SEC-42), httpx errors."""

from __future__ import annotations

import copy
import pickle

import httpx
import pytest

from nb_oauth import errors
from nb_oauth.errors import (
    AuthorizationDenied,
    AuthorizationError,
    CallbackTimeout,
    ClientConfigError,
    ConfigError,
    ConfigFileError,
    InsufficientScope,
    NbOAuthError,
    NbOAuthWarning,
    NoSecureStorage,
    PortInUse,
    ProviderError,
    ReauthRequired,
    ScopeError,
    SecretTooLargeForBackend,
    SetupError,
    SignInCancelled,
    SignInError,
    StateMismatch,
    StorageUnavailable,
    TokenEndpointError,
    TokenEndpointTimeout,
    TokenEndpointUnreachable,
    TokenError,
    authorization_error_from_response,
    token_error_from_response,
)

CANARY = "CANARY-SECRET-1f2e"


def test_every_exported_error_derives_from_nb_oauth_error() -> None:
    exported = [getattr(errors, name) for name in errors.__all__]
    classes = [
        obj for obj in exported if isinstance(obj, type) and not issubclass(obj, NbOAuthWarning)
    ]
    # The second wave added DeviceCodeExpired and ConsentNeeded; issue 17 RateLimited and
    # PagingError; issue 18 DPoPError and PushedAuthorizationError.
    assert len(classes) == 29
    assert all(issubclass(cls, NbOAuthError) for cls in classes)
    assert issubclass(NbOAuthWarning, UserWarning)


def test_all_is_sorted() -> None:
    assert errors.__all__ == sorted(errors.__all__, key=str.casefold)


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ("invalid_grant", ReauthRequired),
        ("invalid_client", ClientConfigError),
        ("unauthorized_client", ClientConfigError),
        ("invalid_scope", ScopeError),
        ("insufficient_scope", ScopeError),
        ("invalid_request", TokenError),
        ("unsupported_grant_type", TokenError),
        ("temporarily_unavailable", TokenError),
    ],
)
def test_token_errors_map_rfc_6749_codes_to_classes(error: str, cls: type[TokenError]) -> None:
    # SEC-24
    mapped = token_error_from_response(400, {"error": error, "error_description": "why"})
    assert type(mapped) is cls
    assert (mapped.error, mapped.error_description, mapped.status_code) == (error, "why", 400)


def test_token_error_without_a_code_is_generic() -> None:
    mapped = token_error_from_response(400, {"error": 5})
    assert type(mapped) is TokenError
    assert mapped.error == "unknown_error"


def test_reauth_required_names_the_reconnect_call() -> None:
    mapped = token_error_from_response(400, {"error": "invalid_grant"}, datasource="crm")
    assert "Reconnect needed" in str(mapped)
    assert "nb_oauth.connect('crm')" in str(mapped)
    assert "nb_oauth.connect(NAME)" in str(ReauthRequired("invalid_grant"))


def test_client_config_error_points_at_the_client_settings() -> None:
    message = str(token_error_from_response(401, {"error": "invalid_client"}))
    assert "client_id" in message
    assert "HTTP 401" in message


@pytest.mark.parametrize(
    ("saved", "client_auth", "says_missing"),
    [(False, "basic", True), (False, "body", True), (True, "basic", False), (False, "none", False)],
)
def test_invalid_client_without_a_saved_secret_says_to_give_it_again(
    saved: bool, client_auth: str, says_missing: bool
) -> None:
    # A kernel restart with secrets kept in memory: the code went out as a public client's.
    error = token_error_from_response(401, {"error": "invalid_client"}, datasource="crm")
    assert isinstance(error, ClientConfigError)
    error.note_saved_secret(saved, client_auth)
    message = str(error)
    assert ("No client secret is saved for crm here" in message) is says_missing
    assert ("%datasource edit crm --new-client-secret" in message) is says_missing
    assert "check client_id" in message.lower()
    assert "invalid_client" in message and "\n" not in message


def test_error_description_is_truncated_plain_text() -> None:
    description = "<b>bad</b>\r\nline two " + "x" * 1000
    mapped = token_error_from_response(
        400, {"error": "invalid_request", "error_description": description}
    )
    assert mapped.error_description is not None
    assert len(mapped.error_description) <= 200
    assert "\n" not in str(mapped)
    assert "<b>" not in str(mapped)


def test_echoed_secrets_are_masked_in_the_description() -> None:
    # SEC-42: some servers echo the refresh token they rejected.
    payload = {"error": "invalid_grant", "error_description": f"unknown token {CANARY}"}
    mapped = token_error_from_response(400, payload, secrets=[CANARY])
    assert CANARY not in str(mapped)
    assert CANARY not in repr(mapped)
    assert "unknown token ***" in str(mapped)


def test_token_like_values_in_the_description_are_masked_without_being_told() -> None:
    payload = {"error": "invalid_grant", "error_description": f"refresh_token={CANARY}"}
    assert CANARY not in str(token_error_from_response(400, payload))


def test_the_raw_payload_never_reaches_the_message() -> None:
    payload = {"error": "invalid_request", "access_token": CANARY, "debug": CANARY}
    mapped = token_error_from_response(400, payload)
    assert CANARY not in str(mapped)
    assert CANARY not in repr(vars(mapped))


def test_error_uri_is_kept_redacted() -> None:
    payload = {"error": "invalid_request", "error_uri": f"https://as.example/e?code={CANARY}"}
    mapped = token_error_from_response(400, payload)
    assert mapped.error_uri == "https://as.example/e?code=***"


@pytest.mark.parametrize(
    ("params", "cls"),
    [
        ({"error": "access_denied"}, AuthorizationDenied),
        ({"error": "invalid_scope"}, AuthorizationError),
        ({"error": "server_error", "error_description": "try later"}, AuthorizationError),
        ({}, AuthorizationError),
    ],
)
def test_authorization_error_responses_map_to_classes(
    params: dict[str, str], cls: type[AuthorizationError]
) -> None:
    # SEC-17, RFC 6749 §4.1.2.1
    error = authorization_error_from_response(params)
    assert type(error) is cls
    assert error.error == params.get("error", "unknown_error")


def test_authorization_error_description_is_plain_text() -> None:
    error = AuthorizationError("access_denied", "<script>alert(1)</script>" * 50)
    assert "<script>" not in str(error)
    assert error.error_description is not None and len(error.error_description) <= 200


def test_config_error_is_one_line_naming_the_field_and_fix() -> None:
    error = ConfigError("token_url", "uses http://", "use https://")
    assert error.field == "token_url"
    assert str(error) == "token_url: uses http://; use https://"
    assert isinstance(error, ValueError)


def test_token_endpoint_error_is_short_and_redacts_its_snippet() -> None:
    # SEC-45: len(str(e)) < 500 and nothing that looks like a token.
    error = TokenEndpointError(
        "not JSON",
        status_code=502,
        content_type="text/html; charset=utf-8" * 20,
        snippet=f"access_token={CANARY} " + "y" * 5000,
    )
    assert len(str(error)) < 500
    assert len(error.snippet) <= 200
    assert CANARY not in str(error)
    assert (error.status_code, error.reason) == (502, "not JSON")


@pytest.mark.parametrize(
    "error",
    [
        StateMismatch(),
        CallbackTimeout(300, datasource="crm"),
        TokenEndpointTimeout(30),
        StorageUnavailable("no keyring backend", "install one"),
        SecretTooLargeForBackend(backend="WinVault", size=4096, limit=2560),
    ],
)
def test_other_errors_have_actionable_messages(error: NbOAuthError) -> None:
    assert str(error)
    assert "\n" not in str(error)


def test_callback_timeout_suggests_the_paste_flow() -> None:
    assert "--paste" in str(CallbackTimeout(2.5, datasource="crm"))


def test_secret_too_large_is_a_storage_error_naming_the_sizes() -> None:
    error = SecretTooLargeForBackend(backend="WinVault", size=4096, limit=2560)
    assert isinstance(error, StorageUnavailable)
    assert "4096" in str(error) and "2560" in str(error)


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("name", "is empty", "set it"),
        ReauthRequired("invalid_grant", "expired", status_code=400, datasource="crm"),
        TokenEndpointError("empty", status_code=200, content_type=None),
        SecretTooLargeForBackend(backend="WinVault", size=4096, limit=2560),
        CallbackTimeout(3),
    ],
)
def test_errors_survive_pickling_and_copying(error: NbOAuthError) -> None:
    # Exceptions cross process boundaries (multiprocessing, ipyparallel) and hold no secrets.
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        assert vars(clone) == vars(error)


@pytest.mark.parametrize(
    "error",
    [
        ReauthRequired("invalid_grant", status_code=400, datasource="crm"),
        ReauthRequired("not_connected", datasource="crm"),
        TokenError("invalid_request"),
        ClientConfigError("invalid_client"),
        InsufficientScope("needs write"),
        TokenEndpointError("empty", status_code=200, content_type=None),
        TokenEndpointTimeout(3),
        TokenEndpointUnreachable("https://as.example:443", "ConnectError"),
        StorageUnavailable("the keyring is locked", "unlock it"),
    ],
)
def test_errors_that_surface_from_api_calls_are_httpx_errors_too(error: NbOAuthError) -> None:
    # `except httpx.HTTPError` around client calls keeps working; declared once, in errors.py.
    assert isinstance(error, httpx.HTTPError)
    with pytest.raises(RuntimeError):
        _ = error.request  # httpx's own rule: no request until one is attached
    request = httpx.Request("POST", "https://as.example/token")
    error.request = request
    assert error.request is request
    with pytest.raises(httpx.HTTPError):
        raise error


def test_the_tree_reads_as_the_users_questions() -> None:
    assert issubclass(ReauthRequired, NbOAuthError)
    for cls in (AuthorizationDenied, TokenError, InsufficientScope, TokenEndpointError,
                TokenEndpointTimeout, TokenEndpointUnreachable):
        assert issubclass(cls, ProviderError)
    assert not issubclass(InsufficientScope, TokenError)  # an API's answer, not a token error
    for cls in (ConfigFileError, StorageUnavailable, NoSecureStorage, PortInUse):
        assert issubclass(cls, SetupError)
    for cls in (StateMismatch, CallbackTimeout, SignInCancelled):
        assert issubclass(cls, SignInError)
    assert issubclass(TokenEndpointTimeout, httpx.TimeoutException)
    assert not issubclass(ConfigError, httpx.HTTPError)
    assert not issubclass(AuthorizationError, httpx.HTTPError)  # a redirect, not a request
