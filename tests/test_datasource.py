"""The Datasource model: SPEC section 1 fields and defaults, validation (SEC-19, -20, -34)."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from typing import Any

import pytest
from IPython.core.formatters import DisplayFormatter

from nb_oauth.datasource import Datasource, loopback_redirect_uri
from nb_oauth.errors import ConfigError

SPEC_FIELDS = [
    "name", "grant", "token_url", "authorization_url", "client_id", "scopes", "token_placement",
    "header_prefix", "query_param", "client_auth", "body_encoding", "auth_params", "token_params",
    "base_url", "redirect_port", "refresh_leeway", "send_scope_on_refresh", "issuer",
    "revocation_url",
    # SPEC section 13 (second wave)
    "resource", "headers", "provider", "provider_options", "redirect_uri",
    "device_authorization_url",
]  # fmt: skip

AUTH_CODE: dict[str, Any] = {
    "name": "crm",
    "token_url": "https://as.example/token",
    "authorization_url": "https://as.example/authorize",
    "client_id": "crm-client",
}
CLIENT_CREDENTIALS: dict[str, Any] = {
    "name": "crm",
    "grant": "client_credentials",
    "token_url": "https://as.example/token",
    "client_id": "crm-client",
}


def make(**changes: Any) -> Datasource:
    return Datasource(**{**AUTH_CODE, **changes})


def config_error(**changes: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        make(**changes)
    return info.value


def test_fields_are_the_spec_names_plus_origins_and_transport() -> None:
    names = [f.name for f in dataclasses.fields(Datasource)]
    assert set(names) == {
        *SPEC_FIELDS, "extra_origins", "insecure_transport", "metadata_fetched_at"
    }
    assert "client_secret" not in names  # write-only, kept in the keyring (SPEC section 1)


def test_all_fields_are_keyword_only() -> None:
    construct: Any = Datasource
    with pytest.raises(TypeError):
        construct("crm", "authorization_code", "https://as.example/token")


def test_defaults_follow_spec_section_1() -> None:
    ds = make()
    assert ds.grant == "authorization_code"
    assert (ds.token_placement, ds.header_prefix, ds.query_param) == (
        "header",
        "Bearer",
        "access_token",
    )
    assert (ds.client_auth, ds.body_encoding) == ("basic", "form")
    assert (ds.redirect_port, ds.refresh_leeway, ds.send_scope_on_refresh) == (0, 60.0, False)
    assert ds.scopes == ()
    assert dict(ds.auth_params) == {} and dict(ds.token_params) == {}
    assert (ds.base_url, ds.issuer, ds.revocation_url, ds.insecure_transport) == (
        None,
        None,
        None,
        False,
    )


def test_the_spec_example_builds() -> None:
    ds = Datasource(
        name="crm",
        grant="client_credentials",
        token_url="https://as.example/token",
        client_id="abc",
        scopes="read,write",
        base_url="https://api.example",
    )
    assert ds.scopes == ("read", "write")


def test_datasource_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("scopes", "stored"),
    [
        ("read,write", ("read", "write")),
        ("read write", ("read", "write")),
        (" read, write  admin ,read ", ("read", "write", "admin")),
        (["openid", "offline_access", "openid"], ("openid", "offline_access")),
        (("a:b", "https://graph.example/.default"), ("a:b", "https://graph.example/.default")),
        ("", ()),
        (None, ()),
    ],
)
def test_scopes_are_split_deduplicated_and_ordered(scopes: Any, stored: tuple[str, ...]) -> None:
    ds = make(scopes=scopes)
    assert ds.scopes == stored
    assert ds.scope_string == " ".join(stored)  # RFC 6749 §3.3


@pytest.mark.parametrize("scopes", [['a"b'], ["back\\slash"], ["two words"], [5], 5, {"read": 1}])
def test_invalid_scopes_are_rejected(scopes: Any) -> None:
    assert config_error(scopes=scopes).field == "scopes"


@pytest.mark.parametrize("name", ["crm", "github-prod", "A_1"])
def test_valid_names(name: str) -> None:
    assert make(name=name).name == name


@pytest.mark.parametrize("name", ["", "a b", "crm/../x", "ds.1", "café", "x\ty", 5])
def test_invalid_names_are_rejected(name: Any) -> None:
    assert config_error(name=name).field == "name"


@pytest.mark.parametrize(
    ("grant", "hint"),
    [("password", "RFC 9700 §2.4"), ("implicit", "implicit"), ("token", "implicit")],
)
def test_password_and_implicit_grants_are_refused_with_a_reason(grant: str, hint: str) -> None:
    # SEC-20
    error = config_error(grant=grant)
    assert error.field == "grant"
    assert hint in str(error)
    assert "authorization_code" in str(error)


def test_unknown_grant_lists_the_choices() -> None:
    error = config_error(grant="saml_bearer")
    assert "'authorization_code' or 'device_code' or 'client_credentials'" in str(error)


def test_authorization_code_requires_an_authorization_url() -> None:
    assert config_error(authorization_url=None).field == "authorization_url"


def test_client_credentials_needs_no_authorization_url() -> None:
    assert Datasource(**CLIENT_CREDENTIALS).authorization_url is None


def test_client_credentials_refuses_a_public_client() -> None:
    # RFC 6749 §4.4: confidential clients only.
    with pytest.raises(ConfigError) as info:
        Datasource(**CLIENT_CREDENTIALS, client_auth="none")
    assert info.value.field == "client_auth"


URL_FIELDS = ["token_url", "authorization_url", "base_url", "issuer", "revocation_url"]


@pytest.mark.parametrize("field", URL_FIELDS)
def test_http_endpoints_on_the_network_are_rejected(field: str) -> None:
    # SEC-34
    error = config_error(**{field: "http://as.example/x"})
    assert error.field == field
    assert "https://" in str(error)


@pytest.mark.parametrize("field", URL_FIELDS)
@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "[::1]", "localhost"])
def test_http_on_loopback_hosts_is_allowed(field: str, host: str) -> None:
    url = f"http://{host}:8080/x"
    assert getattr(make(**{field: url}), field) == url


@pytest.mark.parametrize("host", ["10.0.0.1", "localhost.example", "127.0.0.1.nip.io", "[::2]"])
def test_lookalike_loopback_hosts_need_https(host: str) -> None:
    assert config_error(token_url=f"http://{host}/token").field == "token_url"


def test_insecure_transport_never_allows_a_non_loopback_host() -> None:
    # SEC-34: the escape hatch is only for loopback test servers, https or not.
    for url in ("http://as.example/token", "https://as.example/token"):
        error = config_error(insecure_transport=True, token_url=url)
        assert error.field == "insecure_transport"
    loopback = {f: f"http://127.0.0.1:9/{f}" for f in ("token_url", "authorization_url")}
    assert make(insecure_transport=True, **loopback).insecure_transport is True


def test_insecure_transport_covers_extra_origins() -> None:
    error = config_error(
        insecure_transport=True,
        token_url="http://127.0.0.1:9/t",
        authorization_url="http://127.0.0.1:9/a",
        extra_origins=["https://cdn.example"],
    )
    assert error.field == "insecure_transport"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://as.example/token#frag", "fragment"),
        ("https://as.example/token#", "fragment"),
        ("https://user:CANARY-SECRET-1f2e@as.example/token", "credentials"),
        ("https://user@as.example/token", "credentials"),
        ("ftp://as.example/token", "http(s)"),
        ("as.example/token", "http(s)"),
        ("https:///token", "http(s)"),
        ("https://as.example:99999/token", "not a valid URL"),
        ("https://as.example/to ken", "spaces"),
        ("https://[::1/token", "not a valid URL"),
        ("https://as.example\\@evil.example/token", "'\\'"),
    ],
)
def test_malformed_endpoint_urls_are_rejected(url: str, problem: str) -> None:
    error = config_error(token_url=url)
    assert error.field == "token_url"
    assert problem in str(error)
    assert "CANARY" not in str(error)


def test_urls_are_stripped_but_otherwise_kept_exactly() -> None:
    # RFC 9207 / SEC-15 compare the issuer as a plain string: no normalization beyond stripping.
    ds = make(token_url="  https://AS.example/token?tenant=1 ", issuer="https://as.example/t1/")
    assert ds.token_url == "https://AS.example/token?tenant=1"
    assert ds.issuer == "https://as.example/t1/"


def test_issuer_may_not_have_a_query() -> None:
    assert config_error(issuer="https://as.example/?x=1").field == "issuer"


def test_empty_optional_urls_mean_none() -> None:
    assert make(base_url="", revocation_url="  ").base_url is None


@pytest.mark.parametrize(
    "param",
    ["response_type", "client_id", "redirect_uri", "state", "code_challenge",
     "code_challenge_method", "scope", "iss", "STATE", " scope "],
)  # fmt: skip
def test_auth_params_may_not_override_protocol_parameters(param: str) -> None:
    # SEC-19
    error = config_error(auth_params={param: "x"})
    assert error.field == "auth_params"
    assert param.strip() in str(error)


@pytest.mark.parametrize(
    "param",
    ["grant_type", "code", "code_verifier", "redirect_uri", "refresh_token", "client_id",
     "client_secret", "client_assertion", "client_assertion_type", "scope", "password"],
)  # fmt: skip
def test_token_params_may_not_override_protocol_parameters(param: str) -> None:
    error = config_error(token_params={param: "x"})
    assert error.field == "token_params"
    assert param in str(error)


def test_params_are_read_only_and_sorted() -> None:
    ds = make(auth_params={"prompt": "consent", "access_type": "offline"})
    assert list(ds.auth_params) == ["access_type", "prompt"]
    with pytest.raises(TypeError):
        ds.auth_params["prompt"] = "none"  # type: ignore[index]


def test_params_keep_values_with_url_metacharacters_verbatim() -> None:
    # SEC-19: values are encoded when sent, so '&state=evil' stays one value.
    assert make(auth_params={"prompt": "a&state=evil#"}).auth_params["prompt"] == "a&state=evil#"


@pytest.mark.parametrize("params", [{"prompt": 1}, {1: "x"}, {"": "x"}, ["prompt=consent"], "a=b"])
def test_params_must_map_strings_to_strings(params: Any) -> None:
    assert config_error(token_params=params).field == "token_params"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"token_placement": "body"}, "token_placement"),
        ({"client_auth": "client_secret_jwt"}, "client_auth"),
        ({"body_encoding": "xml"}, "body_encoding"),
        ({"header_prefix": "Bearer token"}, "header_prefix"),
        ({"header_prefix": "Bearer\r\nX-Evil: 1"}, "header_prefix"),
        ({"query_param": ""}, "query_param"),
        ({"query_param": "a&b"}, "query_param"),
        ({"redirect_port": -1}, "redirect_port"),
        ({"redirect_port": 65536}, "redirect_port"),
        ({"redirect_port": True}, "redirect_port"),
        ({"redirect_port": "8080"}, "redirect_port"),
        ({"refresh_leeway": -1}, "refresh_leeway"),
        ({"refresh_leeway": float("nan")}, "refresh_leeway"),
        ({"refresh_leeway": "60"}, "refresh_leeway"),
        ({"send_scope_on_refresh": "yes"}, "send_scope_on_refresh"),
        ({"insecure_transport": 1}, "insecure_transport"),
        ({"client_id": ""}, "client_id"),
        ({"client_id": "abc\x00"}, "client_id"),
        ({"token_url": None}, "token_url"),
        ({"token_url": 5}, "token_url"),
    ],
)
def test_each_bad_field_raises_one_config_error_naming_it(
    changes: dict[str, Any], field: str
) -> None:
    error = config_error(**changes)
    assert error.field == field
    message = str(error)
    assert message.startswith(f"{field}: ")
    assert "\n" not in message
    assert "; " in message  # problem; fix


def test_first_invalid_field_in_field_order_is_reported() -> None:
    assert config_error(name="a b", token_url="http://as.example").field == "name"


def test_values_are_normalized() -> None:
    ds = make(client_id="  crm-client \n", header_prefix=" token ", refresh_leeway=30)
    assert (ds.client_id, ds.header_prefix, ds.refresh_leeway) == ("crm-client", "token", 30.0)
    assert isinstance(ds.refresh_leeway, float)


@pytest.mark.parametrize(
    ("prefix", "effective"), [("", "Bearer"), ("token", "token"), ("Bearer", "Bearer")]
)
def test_effective_header_prefix_defaults_to_bearer(prefix: str, effective: str) -> None:
    assert make(header_prefix=prefix).effective_header_prefix == effective


def test_resource_origins_are_normalized_and_unique() -> None:
    # SEC-32: the token goes to these origins only.
    ds = make(
        base_url="https://API.example/v1/",
        extra_origins="https://files.example:8443, https://api.example:443 http://127.0.0.1:5000/",
    )
    assert ds.resource_origins == (
        "https://api.example:443",
        "https://files.example:8443",
        "http://127.0.0.1:5000",
    )
    assert make(base_url="http://[::1]/x").resource_origins == ("http://[::1]:80",)
    assert make().resource_origins == ()


@pytest.mark.parametrize(
    "origin", ["https://cdn.example/path", "https://cdn.example/?q", "http://cdn.example"]
)
def test_extra_origins_must_be_https_origins(origin: str) -> None:
    assert config_error(extra_origins=[origin]).field == "extra_origins"


def test_redirect_uri_defaults_to_the_loopback_ip_literal() -> None:
    # SPEC sections 2 and 11, RFC 8252 §7.3, SEC-1
    ds = make()
    assert ds.redirect_uri == "http://127.0.0.1/callback"
    assert not ds.uses_server_callback
    assert ds.loopback_port == 0
    assert loopback_redirect_uri(53682) == "http://127.0.0.1:53682/callback"
    assert loopback_redirect_uri(53682, ipv6=True) == "http://[::1]:53682/callback"


def test_a_loopback_redirect_uri_may_name_the_port() -> None:
    assert make(redirect_uri="http://127.0.0.1:8765/callback").loopback_port == 8765
    assert make(redirect_port=8765).loopback_port == 8765
    error = config_error(redirect_uri="http://127.0.0.1:8765/callback", redirect_port=9000)
    assert error.field == "redirect_port" and "once" in str(error)


@pytest.mark.parametrize(
    "uri",
    [
        "https://hub.example/hub/user-redirect/nb-oauth/callback",
        "https://jupyter.example/user/alice/nb-oauth/callback",
        "http://127.0.0.1:8000/hub/user-redirect/nb-oauth/callback",
    ],
)
def test_a_server_callback_redirect_uri(uri: str) -> None:
    # SPEC section 11: any URI whose path ends in /nb-oauth/callback means the server extension
    ds = make(redirect_uri=uri)
    assert ds.uses_server_callback and ds.redirect_uri == uri and ds.loopback_port == 0


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("https://example.com/callback", "neither a loopback address"),
        ("http://jupyter.example/user/a/nb-oauth/callback", "https"),
        ("http://localhost/callback", "localhost"),
        ("http://127.0.0.1/other", "path is not /callback"),
        ("https://hub.example/nb-oauth/callback?x=1", "query"),
        ("https://hub.example/nb-oauth/callback#top", "fragment"),
    ],
)
def test_a_redirect_uri_that_is_neither_path_is_refused(uri: str, said: str) -> None:
    # issue 16, bad input: neither loopback nor .../nb-oauth/callback
    error = config_error(redirect_uri=uri)
    assert error.field == "redirect_uri" and said in str(error)
    assert "\n" not in str(error)


def test_replace_revalidates() -> None:
    ds = make()
    assert ds.replace(scopes="a b").scopes == ("a", "b")
    with pytest.raises(ConfigError):
        ds.replace(token_url="http://as.example/token")


def test_config_round_trip_is_plain_json() -> None:
    ds = make(
        scopes="read write",
        auth_params={"prompt": "consent"},
        token_params={"audience": "api"},
        extra_origins=["https://files.example"],
        base_url="https://api.example",
    )
    config = json.loads(json.dumps(ds.to_config()))
    assert config["scopes"] == ["read", "write"]
    assert Datasource.from_config(config) == ds


def test_from_config_fills_defaults_for_missing_optional_fields() -> None:
    assert Datasource.from_config(AUTH_CODE) == make()


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({**AUTH_CODE, "client_secret": "CANARY-SECRET-1f2e"}, "client_secret"),
        ({**AUTH_CODE, "scope": "read"}, "scope"),
        ({key: value for key, value in AUTH_CODE.items() if key != "client_id"}, "client_id"),
    ],
)
def test_from_config_rejects_unknown_secret_and_missing_keys(
    config: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Datasource.from_config(config)
    assert info.value.field == field
    assert "CANARY" not in str(info.value)


def test_repr_shows_the_non_default_fields_only() -> None:
    ds = make(scopes="read", auth_params={"login_hint": "ann@example.com"})
    assert repr(ds) == (
        "Datasource(name='crm', token_url='https://as.example/token', "
        "authorization_url='https://as.example/authorize', client_id='crm-client', "
        "scopes=('read',), auth_params={'login_hint': 'ann@example.com'})"
    )


def test_repr_and_display_redact_credentials_in_urls() -> None:
    ds = make(token_url="https://as.example/token?client_secret=CANARY-SECRET-1f2e")
    data, _ = DisplayFormatter().format(ds)
    assert "CANARY" not in repr(ds)
    assert "CANARY" not in str(data)


def test_datasource_is_hashable_pickleable_and_deep_copyable() -> None:
    ds = make(auth_params={"prompt": "consent"})
    assert hash(ds) == hash(make(auth_params={"prompt": "consent"}))
    assert pickle.loads(pickle.dumps(ds)) == ds
    assert copy.deepcopy(ds) == ds


def test_equality_includes_params() -> None:
    assert make(auth_params={"prompt": "consent"}) != make()


def test_resource_is_an_absolute_uri_without_fragment_and_set_once() -> None:
    assert make(resource="https://api.example/v1").resource == "https://api.example/v1"
    assert "absolute URI" in str(config_error(resource="api.example"))
    assert "absolute URI" in str(config_error(resource="https://api.example/#x"))
    both = config_error(resource="https://api.example", token_params={"resource": "x"})
    assert both.field == "resource" and "set it once" in str(both)


def test_api_headers_are_validated_and_may_not_replace_the_auth() -> None:
    ds = make(headers={"X-GitHub-Api-Version": "2022-11-28", "Accept": "application/json"})
    assert dict(ds.headers) == {"Accept": "application/json", "X-GitHub-Api-Version": "2022-11-28"}
    assert "may not set Authorization" in str(config_error(headers={"Authorization": "x"}))
    assert "not a header name" in str(config_error(headers={"Bad Name": "x"}))
    assert "control characters" in str(config_error(headers={"X-A": "a\r\nInjected: 1"}))
