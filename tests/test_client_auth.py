"""Client authentication by RFC name (STYLE rule 5, SEC-31) and token request encoding."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from urllib.parse import parse_qsl

import pytest

from nb_oauth.errors import ConfigError
from nb_oauth.grants import client_auth
from nb_oauth.grants.client_auth import (
    DATASOURCE_CLIENT_AUTH,
    client_auth_method,
    client_secret_basic,
    client_secret_post,
    encode_token_request,
    no_client_auth,
    register_client_auth_method,
    select_client_auth,
)
from nb_oauth.secret import Secret

CANARY = "CANARY-SECRET-1f2e"
PARAMS = {"grant_type": "client_credentials", "scope": "read write"}


def test_basic_matches_the_appauth_vector() -> None:
    # SEC-31: RFC 6749 Appendix B form-encoding before Base64.
    headers, params = client_secret_basic(
        "1PpG/Q 1", Secret("z/tZ9VwFZqApmIQ+ZH1I5pLk/uB4ud:X2/8bL+wfFTt1rFw="), PARAMS
    )
    assert headers == {
        "Authorization": "Basic MVBwRyUyRlErMTp6JTJGdFo5VndGWnFBcG1JUSUyQlpIMUk1cExrJTJGdUI0dW"
        "QlM0FYMiUyRjhiTCUyQndmRlR0MXJGdyUzRA=="
    }
    assert params == PARAMS


def test_basic_encodes_non_ascii_credentials_as_utf8() -> None:
    headers, _ = client_secret_basic("clïent", Secret("sé cret"), {})
    decoded = base64.b64decode(headers["Authorization"].removeprefix("Basic ")).decode()
    assert decoded == "cl%C3%AFent:s%C3%A9+cret"


def test_basic_puts_no_credentials_in_the_body() -> None:
    _, params = client_secret_basic(
        "id", Secret(CANARY), {**PARAMS, "client_id": "x", "client_secret": "y"}
    )
    assert "client_secret" not in params
    assert "client_id" not in params


def test_post_puts_both_in_the_body_and_no_header() -> None:
    headers, params = client_secret_post("id", Secret(CANARY), PARAMS)
    assert headers == {}
    assert params == {**PARAMS, "client_id": "id", "client_secret": CANARY}


def test_a_public_client_sends_its_id_only() -> None:
    headers, params = no_client_auth("id", Secret(CANARY), PARAMS)
    assert headers == {}
    assert params == {**PARAMS, "client_id": "id"}


@pytest.mark.parametrize("method", [client_secret_basic, client_secret_post, no_client_auth])
def test_methods_never_mutate_their_input(method: client_auth.ClientAuthMethod) -> None:
    params = dict(PARAMS)
    method("id", Secret("s"), params)
    assert params == PARAMS


@pytest.mark.parametrize("method", [client_secret_basic, client_secret_post])
@pytest.mark.parametrize("secret", [None, Secret("")])
def test_secret_methods_without_a_secret_raise_a_config_error(
    method: client_auth.ClientAuthMethod, secret: Secret | None
) -> None:
    with pytest.raises(ConfigError) as info:
        method("id", secret, PARAMS)
    assert info.value.field == "client_secret"
    assert "nb_oauth.save" in str(info.value)


@pytest.mark.parametrize(
    ("field", "rfc_name"),
    [("basic", "client_secret_basic"), ("body", "client_secret_post"), ("none", "none")],
)
def test_datasource_values_map_to_rfc_names(field: str, rfc_name: str) -> None:
    assert DATASOURCE_CLIENT_AUTH[field] == rfc_name
    assert select_client_auth(field, Secret("s")) is client_auth_method(rfc_name)


@pytest.mark.parametrize("field", ["basic", "body"])
def test_without_a_saved_secret_the_client_is_public(field: str) -> None:
    # STYLE rule 5: basic when a secret exists, else none.
    assert select_client_auth(field, None) is no_client_auth
    assert select_client_auth(field, Secret("")) is no_client_auth


@pytest.mark.parametrize("field", ["basic", "client_secret_basic"])
def test_select_accepts_seed_and_rfc_names(field: str) -> None:
    assert select_client_auth(field, Secret("s")) is client_secret_basic


def test_unknown_methods_raise_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        select_client_auth("tls_client_auth", Secret("s"))
    assert info.value.field == "client_auth"
    assert "client_secret_basic" in str(info.value)


def test_custom_methods_can_be_registered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_auth, "_METHODS", dict(client_auth._METHODS))

    def tls_client_auth(
        client_id: str, client_secret: Secret | None, params: Mapping[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        return {}, {**params, "client_id": client_id}

    register_client_auth_method("tls_client_auth", tls_client_auth)
    assert select_client_auth("tls_client_auth", None) is tls_client_auth
    with pytest.raises(ValueError):
        register_client_auth_method("tls_client_auth", tls_client_auth)
    with pytest.raises(ValueError):  # built in since issue 18
        register_client_auth_method("private_key_jwt", tls_client_auth)


@pytest.mark.parametrize("name", ["client_secret_basic", "none", "basic"])
def test_builtin_methods_cannot_be_replaced(name: str) -> None:
    with pytest.raises(ValueError):
        register_client_auth_method(name, no_client_auth)


def test_form_encoding_is_rfc_6749_appendix_b() -> None:
    params = {
        "grant_type": "authorization_code",
        "code": "a&b=c",
        "redirect_uri": "http://127.0.0.1:5/callback",
        "x": "é +",
    }
    content_type, body = encode_token_request(params, "form")
    assert content_type == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(body.decode("ascii"), strict_parsing=True)) == params
    assert b"x=%C3%A9+%2B" in body


def test_json_encoding_is_a_json_object() -> None:
    content_type, body = encode_token_request(
        {"grant_type": "client_credentials", "x": "é"}, "json"
    )
    assert content_type == "application/json"
    assert json.loads(body) == {"grant_type": "client_credentials", "x": "é"}


def test_unknown_body_encoding_raises_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        encode_token_request({}, "xml")  # type: ignore[arg-type]
    assert info.value.field == "body_encoding"
