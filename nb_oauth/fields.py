"""The datasource's fields in one table: name, label and help, kind, which grants use each, which
of them the seed's form shows up front, and whether it is secret.

It drives every place that lists fields: the `%datasource add/edit` options
(`nb_oauth.jupyter.datasource_magic`), the form's widgets (`nb_oauth.jupyter.widgets`), and what
`%datasource show` lists (`nb_oauth.jupyter.display`); `nb_oauth.datasource.Datasource` declares
the same names with their types and validation (a test keeps the two in step). A new field is one
row here, its attribute and check in `Datasource`, and its behaviour where it acts.

Labels and help come from the seed (Appsmith's OAuth 2.0 datasource page); the seed lists one
field set per grant type, which is the form's main section (``main``). The fields nb_oauth adds sit
under "More settings", and so do the seed fields a grant's set leaves out but the datasource still
uses (Header Prefix and Client Authentication for client credentials).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["AUTH_CODE", "CLIENT_CREDENTIALS", "DEVICE_CODE", "FIELDS", "Field", "field"]

AUTH_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
DEVICE_CODE = "device_code"
_BOTH = frozenset({AUTH_CODE, CLIENT_CREDENTIALS, DEVICE_CODE})
_AUTH_CODE_ONLY = frozenset({AUTH_CODE})
_USER_GRANTS = frozenset({AUTH_CODE, DEVICE_CODE})
_DEVICE_ONLY = frozenset({DEVICE_CODE})

#: text and url are one line of text; scopes and origins a list typed as text; params a mapping;
#: port an int, seconds a float, flag a bool; secret is write-only (never in the config file).
Kind = Literal["text", "choice", "secret", "params", "port", "seconds", "flag"]


@dataclass(frozen=True)
class Field:
    """One datasource field. ``main`` names the grants whose seed field set lists it; ``grants``
    the grants it applies to at all. ``option`` is its ``%datasource add`` flag when that is not
    ``--`` plus the name with dashes (a repeatable option is singular: ``--auth-param``)."""

    name: str
    label: str
    help: str
    kind: Kind = "text"
    main: frozenset[str] = _BOTH
    grants: frozenset[str] = _BOTH
    choices: tuple[tuple[str, str], ...] = ()
    placeholder: str = ""
    option: str = ""
    repeatable: bool = False

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    @property
    def flag(self) -> str:
        return self.option or "--" + self.name.replace("_", "-")


FIELDS: tuple[Field, ...] = (
    Field("name", "Name", "Letters, digits, - and _. Used as %%api NAME.",
              placeholder="github"),
    # Up front: picking a provider fills most of what follows.
    Field("provider", "Provider",
          "A preset (github, google, microsoft, ...) that fills the endpoints and defaults; "
          "%datasource providers lists them. Fields you give win."),
    Field("provider_options", "Provider Options",
          "The preset's parameters, e.g. tenant=contoso.onmicrosoft.com or host=gitlab.example.",
          kind="params", option="--provider-option", repeatable=True),
    Field("grant", "Grant Type",
              "Authorization code: you sign in once in the browser. Device code: you sign in "
              "on any device with a short code (for remote kernels). Client credentials: "
              "server to server, no sign-in.", kind="choice",
              choices=(("Authorization Code", AUTH_CODE),
                       ("Device Code", DEVICE_CODE),
                       ("Client Credentials", CLIENT_CREDENTIALS))),
    # The seed's field sets, in the seed's order.
    Field("token_placement", "Add Access Token To",
              "Send the access token in the Authorization header or as a query parameter.",
              kind="choice", choices=(("Header", "header"), ("Query parameter", "query"))),
    Field("header_prefix", "Header Prefix", "If left empty, Bearer is used.",
              main=_AUTH_CODE_ONLY, placeholder="Bearer"),
    Field("token_url", "Access Token URL",
              "The authorization server's POST endpoint that issues access tokens.",
              placeholder="https://provider.example/oauth/token"),
    Field("client_id", "Client ID",
              "The identifier of the credentials configured at the authorization server."),
    Field("client_secret", "Client Secret",
              "Kept in the system keyring and never shown again. Empty for public clients.",
              kind="secret"),
    Field("scopes", "Scope(s)", "Separate scopes with commas or spaces.",
              placeholder="read, write"),
    Field("authorization_url", "Authorization URL",
              "Where the browser signs in (RFC 6749 §4.1.1); it redirects back to this kernel.",
              main=_AUTH_CODE_ONLY, grants=_AUTH_CODE_ONLY,
              placeholder="https://provider.example/oauth/authorize"),
    Field("auth_params", "Custom Authentication Parameters",
              "Extra query parameters on the sign-in redirect, e.g. access_type=offline.",
              kind="params", main=_AUTH_CODE_ONLY, grants=_AUTH_CODE_ONLY,
              option="--auth-param", repeatable=True),
    Field("client_auth", "Client Authentication",
              "How the client ID and secret are sent to the token endpoint.", kind="choice",
              main=_USER_GRANTS,
              choices=(("Basic Authorization header", "basic"), ("In the request body", "body"),
                       ("None (public client)", "none"))),
    # nb_oauth's additions.
    Field("base_url", "Base URL",
              "API root for relative %%api URLs; the token is only ever sent to this origin.",
              main=frozenset(), placeholder="https://api.provider.example"),
    Field("query_param", "Query Parameter Name",
              "The parameter that carries the token when it is added to the query.",
              main=frozenset()),
    Field("body_encoding", "Token Request Body",
              "Form encoding is the standard; some servers want a JSON object.", kind="choice",
              main=frozenset(),
              choices=(("Form (RFC 6749)", "form"), ("JSON object in the request body", "json"))),
    Field("token_params", "Token Parameters",
              "Extra token request parameters, e.g. audience or resource.", kind="params",
              main=frozenset(), option="--token-param", repeatable=True),
    Field("extra_origins", "Extra Origins",
              "Other origins the token may be sent to, separated by spaces.", main=frozenset(),
              option="--extra-origin", repeatable=True),
    Field("device_authorization_url", "Device Authorization URL",
          "Where the device grant asks for a user code (RFC 8628 §3.1); found from the issuer "
          "when empty.", main=_DEVICE_ONLY, grants=_DEVICE_ONLY,
          placeholder="https://provider.example/oauth/device_authorization"),
    Field("redirect_uri", "Redirect URI",
          "Where the browser returns after signing in: the default loopback address, or "
          "<Jupyter URL>/nb-oauth/callback on a remote server or JupyterHub.",
          main=frozenset(), grants=_AUTH_CODE_ONLY, placeholder="http://127.0.0.1/callback"),
    Field("redirect_port", "Redirect Port",
              "0 picks a free port; set one if the provider wants an exact redirect URI.",
              kind="port", main=frozenset(), grants=_AUTH_CODE_ONLY),
    Field("refresh_leeway", "Refresh Leeway (s)",
              "Renew the token this long before it expires.", kind="seconds", main=frozenset()),
    Field("send_scope_on_refresh", "Send Scope on Refresh",
              "Some servers want the scope again when a token is renewed.", kind="flag",
              main=frozenset()),
    Field("issuer", "Issuer", "Enables RFC 9207 issuer checks of the sign-in response.",
              main=frozenset()),
    Field("resource", "Resource",
          "The API's identifier (RFC 8707), sent when signing in and on every token request.",
          main=frozenset(), placeholder="https://api.provider.example"),
    Field("headers", "API Headers",
          "Headers sent with every API call (never to the token endpoint), e.g. an API version.",
          kind="params", main=frozenset(), option="--header", repeatable=True),
    Field("revocation_url", "Revocation URL",
              "RFC 7009 endpoint; Disconnect revokes the tokens there.", main=frozenset()),
)

_BY_NAME = {f.name: f for f in FIELDS}


def field(name: str) -> Field:
    """The field called ``name``. Raises ``KeyError``."""
    return _BY_NAME[name]
