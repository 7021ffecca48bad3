"""`Datasource`: the saved, non-secret configuration of one OAuth-protected API.

The client secret is deliberately not a field: it is write-only, passed to
`nb_oauth.save(ds, client_secret=...)` and kept in the keyring, so a `Datasource` can be shown,
logged, saved to the config file and put in a notebook without leaking anything
(security.md#secret-storage, #errors-logs-and-reprs).

Validation happens once, in the constructor (and therefore also in `replace` and `from_config`).
Each invalid field raises one `ConfigError` whose one-line message names the field and the fix.

Transport security (security.md#transport-security): every endpoint must be `https`, except on a
loopback host (127.0.0.0/8, ::1, localhost), where plain `http` is allowed because the traffic never
leaves the machine; that is how the demo provider runs. `insecure_transport=True` loosens nothing on
its own: it declares the datasource a loopback test rig, so every endpoint must then be on a
loopback host (a non-loopback endpoint is a `ConfigError`), and only then may the httpx adapter
relax certificate verification for a self-signed local server, warning when it does.

`client_auth` defaults to `basic`, as in the seed's form. STYLE rule 5 ("basic when a secret exists,
else none") is honoured when the method is chosen at request time, where the secret is known:
`nb_oauth.grants.client_auth.select_client_auth` uses `none` when no client secret is saved.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from urllib.parse import SplitResult, urlsplit

from nb_oauth.bearer import origin
from nb_oauth.errors import ConfigError
from nb_oauth.quirks import RFC, Quirks
from nb_oauth.redact import redact_url

__all__ = [
    "BodyEncoding", "ClientAuth", "Datasource", "Grant", "SIGNING_ALGS", "TokenPlacement",
]

Grant = Literal["authorization_code", "client_credentials", "device_code"]
TokenPlacement = Literal["header", "query"]
ClientAuth = Literal["basic", "body", "none", "client_secret_jwt", "private_key_jwt"]
BodyEncoding = Literal["form", "json"]

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]*")  # RFC 9110 §5.6.2 tchar
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986 §2.3
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3
_LIST_SEPARATORS = re.compile(r"[\s,]+")

# RFC 6749 §3.1: a parameter is never sent twice, and these are ours
# (security.md#protocol-parameters-and-grants). `request` and `request_uri` would let a JWT-secured
# request override all of them (RFC 9101 §6.3).
_RESERVED_AUTH_PARAMS = frozenset(
    "response_type client_id redirect_uri state code_challenge code_challenge_method scope iss "
    "request request_uri dpop_jkt".split()
)
# RFC 6749 §4.1.3, §4.4.2, §6, §2.3.1, RFC 7636 §4.5, RFC 7521 §4.2. `username`/`password` would
# smuggle in the password grant (security.md#protocol-parameters-and-grants) and a secret into the
# plain config file (security.md#secret-storage).
_RESERVED_TOKEN_PARAMS = frozenset(
    "grant_type code code_verifier redirect_uri refresh_token client_id client_secret "
    "client_assertion client_assertion_type scope assertion username password".split()
)

_REJECTED_GRANTS = {
    "password": "the password grant is not supported (RFC 9700 §2.4: it MUST NOT be used)",
    "implicit": "the implicit grant is not supported (RFC 9700 §2.1.2)",
    "token": "the implicit grant is not supported (RFC 9700 §2.1.2)",
}
_URL_FIELDS = (
    "token_url", "authorization_url", "base_url", "issuer", "revocation_url",
    "device_authorization_url", "redirect_uri", "par_url",
)
_REQUIRED = ("name", "token_url", "client_id")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PLACEMENTS = ("header", "query")
_CLIENT_AUTHS = ("basic", "body", "none", "client_secret_jwt", "private_key_jwt")
#: The JWS algorithms (RFC 7518 §3.1) a client assertion may be signed with, by key type; the first
#: of each is the default (security.md#private-keys).
SIGNING_ALGS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "RSA": ("RS256", "PS256", "RS384", "PS384", "RS512", "PS512"),
    "EC": ("ES256",),
    "oct": ("HS256", "HS384", "HS512"),
})
_ENCODINGS = ("form", "json")


#: The path of every loopback redirect URI.
CALLBACK_PATH = "/callback"
#: The path (under the Jupyter server's base URL) of the server extension's callback.
SERVER_CALLBACK_PATH = "/nb-oauth/callback"
#: The default `redirect_uri`: the loopback catcher on any free port (RFC 8252 §7.3).
DEFAULT_REDIRECT_URI = f"http://127.0.0.1{CALLBACK_PATH}"


def loopback_redirect_uri(port: int = 0, *, ipv6: bool = False) -> str:
    """The RFC 8252 §7.3 loopback redirect URI: the IP literal, never `localhost`
    (security.md#loopback-catcher), with `port` (0: none, as registered at providers that accept
    any loopback port)."""
    host = "[::1]" if ipv6 else "127.0.0.1"
    return f"http://{host}{f':{port}' if port else ''}{CALLBACK_PATH}"


@dataclass(frozen=True, kw_only=True)
class Datasource:
    """A named OAuth 2.0 datasource; its keyword names are the fields of `nb_oauth.fields`.

    `scopes` and `extra_origins` accept a comma- and/or space-separated string or any iterable and
    are stored as tuples; `auth_params` and `token_params` are stored as read-only mappings sorted
    by name. Raises `ConfigError` naming every invalid field (`problems`); never logs.
    """

    name: str
    provider: str | None = None
    provider_options: Mapping[str, str] = field(default_factory=dict, hash=False)
    grant: Grant = "authorization_code"
    token_url: str = ""
    authorization_url: str | None = None
    client_id: str = ""
    scopes: Sequence[str] = ()
    token_placement: TokenPlacement = "header"
    header_prefix: str = "Bearer"
    query_param: str = "access_token"
    client_auth: ClientAuth = "basic"
    body_encoding: BodyEncoding = "form"
    #: The JWS `kid` of client assertions (`private_key_jwt`), when the server wants one.
    key_id: str | None = None
    #: The JWS `alg` of client assertions; `None`: RS256 for RSA keys, ES256 for EC, HS256 for
    #: `client_secret_jwt`.
    signing_alg: str | None = None
    auth_params: Mapping[str, str] = field(default_factory=dict, hash=False)
    token_params: Mapping[str, str] = field(default_factory=dict, hash=False)
    base_url: str | None = None
    extra_origins: Sequence[str] = ()
    device_authorization_url: str | None = None
    redirect_uri: str = DEFAULT_REDIRECT_URI
    redirect_port: int = 0
    refresh_leeway: float = 60.0
    send_scope_on_refresh: bool = False
    issuer: str | None = None
    revocation_url: str | None = None
    resource: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: RFC 9449: bind the tokens to a key of this datasource; API calls send `Authorization: DPoP`.
    dpop: bool = False
    #: RFC 9126: push the authorization request first. `None`: when the server's metadata
    #: requires it; `True`: always; `False`: never.
    par: bool | None = None
    #: The pushed authorization request endpoint, when the metadata does not name it.
    par_url: str | None = None
    insecure_transport: bool = False
    #: When the endpoints were last taken from metadata (epoch seconds); `None`: given by hand.
    metadata_fetched_at: float | None = None
    #: The fields the user gave, when a preset fills the others (`None`: no preset).
    _given: ClassVar[frozenset[str] | None] = None

    def __post_init__(self) -> None:
        given = self._apply_preset()
        object.__setattr__(self, "_given", given)
        insecure = _flag("insecure_transport", self.insecure_transport)
        # Every field is checked, in field order, so one error can name all that are invalid.
        checks: dict[str, Callable[[], object]] = {
            "name": lambda: _name(self.name),
            "grant": lambda: _grant(self.grant),
            "provider_options": lambda: _params(
                "provider_options", self.provider_options, frozenset()
            ),
            # Not required when a preset gives it, or metadata will at save time: the issuer's,
            # or the API's (RFC 9728) when only base_url is given.
            "token_url": lambda: _url("token_url", self.token_url or None, insecure,
                                      required=self.issuer is None and self.base_url is None)
            or "",
            "authorization_url": lambda: _url(
                "authorization_url", self.authorization_url, insecure
            ),
            # Not required when the endpoints come from metadata too, which may offer dynamic
            # registration (RFC 7591) at save time.
            "client_id": lambda: _text(
                "client_id", self.client_id,
                required=bool(self.token_url) or (self.issuer is None and self.base_url is None),
            ),
            "scopes": lambda: _scopes(self.scopes),
            "token_placement": lambda: _choice(
                "token_placement", self.token_placement, _PLACEMENTS
            ),
            "header_prefix": lambda: _header_prefix(self.header_prefix),
            "query_param": lambda: _query_param(self.query_param),
            "client_auth": lambda: _choice("client_auth", self.client_auth, _CLIENT_AUTHS),
            "body_encoding": lambda: _choice("body_encoding", self.body_encoding, _ENCODINGS),
            "key_id": lambda: _key_id(self.key_id),
            "signing_alg": lambda: _signing_alg(self.signing_alg),
            "auth_params": lambda: _params(
                "auth_params", self.auth_params, _RESERVED_AUTH_PARAMS
            ),
            "token_params": lambda: _params(
                "token_params", self.token_params, _RESERVED_TOKEN_PARAMS
            ),
            "base_url": lambda: _url("base_url", self.base_url, insecure),
            "extra_origins": lambda: _origins(self.extra_origins, insecure),
            "device_authorization_url": lambda: _url(
                "device_authorization_url", self.device_authorization_url, insecure
            ),
            "redirect_uri": lambda: _redirect_uri(self.redirect_uri, insecure),
            "redirect_port": lambda: _port(self.redirect_port),
            "refresh_leeway": lambda: _leeway(self.refresh_leeway),
            "send_scope_on_refresh": lambda: _flag(
                "send_scope_on_refresh", self.send_scope_on_refresh
            ),
            "issuer": lambda: _url("issuer", self.issuer, insecure, query=False),
            "revocation_url": lambda: _url("revocation_url", self.revocation_url, insecure),
            "resource": lambda: _resource(self.resource),
            "metadata_fetched_at": lambda: _fetched_at(self.metadata_fetched_at),
            "headers": lambda: _headers(self.headers),
            "dpop": lambda: _flag("dpop", self.dpop),
            "par": lambda: _par(self.par),
            "par_url": lambda: _url("par_url", self.par_url, insecure),
        }
        problems: list[ConfigError] = []
        for name, check in checks.items():
            try:
                value = check()
            except ConfigError as exc:
                problems.append(exc)
            else:
                object.__setattr__(self, name, value)  # frozen: normalizing is construction
        problems += self._combination_problems({p.field for p in problems})
        if problems:
            order = [f.name for f in dataclasses.fields(self)]
            raise ConfigError.of(sorted(problems, key=lambda p: order.index(p.field)))

    def _apply_preset(self) -> frozenset[str] | None:
        """Fill the fields the user left at their defaults from the preset named by `provider`;
        return the fields the user gave (`None` without a preset). A value equal to a field's
        default counts as not given: the preset's value is used."""
        if isinstance(self.provider, str) and not self.provider.strip():
            object.__setattr__(self, "provider", None)  # empty, as a form leaves it
        if self.provider is None:
            return None
        if not isinstance(self.provider, str):
            raise ConfigError("provider", "must be a preset name", "quote it")
        from nb_oauth.presets import preset_defaults  # loaded only for datasources that use one

        options = _params("provider_options", self.provider_options, frozenset())
        defaults = preset_defaults(self.provider.strip().lower(), options)
        given = frozenset(
            f.name for f in dataclasses.fields(self)
            if f.name not in ("name", "provider", "provider_options")
            and not _is_default(f, getattr(self, f.name))
            and not _is_empty(getattr(self, f.name))  # a field left blank in a form
        )
        object.__setattr__(self, "provider", self.provider.strip().lower())
        for name, value in defaults.items():
            if name not in given:
                object.__setattr__(self, name, value)
        return given

    def _combination_problems(self, invalid: set[str]) -> list[ConfigError]:
        problems: list[ConfigError] = []
        if "grant" in invalid:
            return problems
        if (
            self.grant == "authorization_code"
            and self.authorization_url is None
            and "authorization_url" not in invalid
            and not (not self.token_url and (self.issuer or self.base_url))  # metadata will
        ):
            problems.append(ConfigError(
                "authorization_url",
                "is required for grant='authorization_code'",
                "set the provider's authorization endpoint (RFC 6749 §3.1), or use "
                "grant='client_credentials'",
            ))
        if (
            self.grant == "device_code"
            and self.device_authorization_url is None
            and "device_authorization_url" not in invalid
            # Metadata may name it, but is read only when no token endpoint is given (presets
            # give one).
            and not (not self.token_url and (self.issuer or self.base_url))
        ):
            problems.append(ConfigError(
                "device_authorization_url",
                "is required for grant='device_code'",
                f"the {self.provider} preset has none (its documentation offers no device "
                "grant): use grant='authorization_code', or give device_authorization_url"
                if self.provider else
                "set the provider's device authorization endpoint (RFC 8628 §3.1), or its "
                "issuer without a token_url so that metadata names it",
            ))
        port = urlsplit(self.redirect_uri).port if "redirect_uri" not in invalid else None
        if (
            port and self.redirect_port and port != self.redirect_port
            and "redirect_port" not in invalid
        ):
            problems.append(ConfigError(
                "redirect_port",
                f"is {self.redirect_port}, but redirect_uri names port {port}",
                "give the port once, in redirect_uri",
            ))
        if self.resource is not None and "resource" not in invalid and any(
            "resource" in params for params in (self.auth_params, self.token_params)
        ):
            problems.append(ConfigError(
                "resource",
                "is also set in auth_params or token_params",
                "set it once, with resource",
            ))
        if (
            self.signing_alg is not None
            and not {"signing_alg", "client_auth"} & invalid
            and self.client_auth in ("client_secret_jwt", "private_key_jwt")
            and (self.signing_alg in SIGNING_ALGS["oct"])
            != (self.client_auth == "client_secret_jwt")
        ):
            problems.append(ConfigError(
                "signing_alg",
                f"{self.signing_alg} cannot sign for client_auth={self.client_auth!r}",
                "client_secret_jwt signs with HS256/HS384/HS512, private_key_jwt with RS256, "
                "PS256 or ES256 (or leave signing_alg empty for the default)",
            ))
        if self.dpop is True and self.token_placement == "query":
            problems.append(ConfigError(
                "dpop",
                "cannot be used with token_placement='query'",
                "use token_placement='header' (DPoP tokens go in the Authorization header, "
                "RFC 9449 §7.1)",
            ))
        if (
            self.grant == "client_credentials"
            and self.client_auth == "none"
            and "client_auth" not in invalid
        ):
            problems.append(ConfigError(
                "client_auth",
                "'none' cannot be used with grant='client_credentials'",
                "use 'basic' or 'body' and save a client secret (RFC 6749 §4.4: confidential "
                "clients only)",
            ))
        return problems

    @property
    def scope_string(self) -> str:
        """The scopes as sent on the wire: space-delimited (RFC 6749 §3.3), unless the preset
        says otherwise."""
        return self.quirks.scope_separator.join(self.scopes)

    @property
    def quirks(self) -> Quirks:
        """How this datasource's provider departs from the RFCs (its preset's; else none)."""
        if self.provider is None:
            return RFC
        from nb_oauth.presets import PRESETS

        preset = PRESETS.get(self.provider)
        return RFC if preset is None else preset.quirks

    @property
    def effective_header_prefix(self) -> str:
        """The Authorization scheme sent with the token; an empty prefix means `Bearer`."""
        return self.header_prefix or "Bearer"

    @property
    def resource_origins(self) -> tuple[str, ...]:
        """Origins (`scheme://host:port`) the access token may be sent to
        (security.md#where-the-token-goes)."""
        origins = [_origin(self.base_url)] if self.base_url else []
        return tuple(dict.fromkeys([*origins, *self.extra_origins]))

    @property
    def uses_server_callback(self) -> bool:
        """True when the browser comes back through the Jupyter server extension
        (`redirect_uri` ends in `/nb-oauth/callback`), False for the loopback catcher."""
        return urlsplit(self.redirect_uri).path.endswith(SERVER_CALLBACK_PATH)

    @property
    def loopback_port(self) -> int:
        """The port the loopback catcher binds: the one in `redirect_uri`, else `redirect_port`
        (0: any free port, RFC 8252 §7.3)."""
        if self.uses_server_callback:
            return 0
        return urlsplit(self.redirect_uri).port or self.redirect_port

    def replace(self, **changes: Any) -> Datasource:
        """Return a copy with `changes` applied, validated like a new datasource. With a preset,
        fields the user never gave keep following the preset."""
        if self._given is None:
            return dataclasses.replace(self, **changes)
        return Datasource(**{**self.to_config(), **changes})

    def to_config(self) -> dict[str, object]:
        """The fields as plain JSON-able data (lists and dicts); there is nothing secret in it.

        With a preset: its name, its options and only the fields the user gave, so that a
        corrected preset reaches the datasource when it is loaded again.
        """
        config: dict[str, object] = {}
        for f in dataclasses.fields(self):
            if self._given is not None and f.name not in (
                "name", "provider", "provider_options", *self._given
            ):
                continue
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            config[f.name] = value
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> Datasource:
        """Build a datasource from `to_config()` data. Missing optional fields take defaults.

        Raises `ConfigError` for an unknown, missing or invalid field, and for a `client_secret`
        key, which never belongs in the config file (security.md#secret-storage).
        """
        known = [f.name for f in dataclasses.fields(cls)]
        for key in config:
            if key == "client_secret":
                raise ConfigError(
                    "client_secret",
                    "must not be in the config file",
                    "remove it and use nb_oauth.save(ds, client_secret=...), which "
                    "keeps it in the keyring",
                )
            if key not in known:
                raise ConfigError(
                    str(key),
                    "is not a datasource field",
                    f"remove it or fix the spelling; fields are {', '.join(known)}",
                )
        for key in _REQUIRED:
            if key not in config and not (key == "token_url" and (
                config.get("provider") or config.get("issuer") or config.get("base_url")
            )):
                raise ConfigError(key, "is missing", f"add the datasource's {key}")
        values: dict[str, Any] = dict(config)
        return cls(**values)

    def __reduce__(self) -> tuple[Any, ...]:
        # The read-only mappings cannot be pickled or deep-copied; the config form can.
        return (_from_config, (self.to_config(),))

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == f.default or (
                f.default_factory is not dataclasses.MISSING and value == f.default_factory()
            ):
                continue
            if isinstance(value, Mapping):
                value = dict(value)
            elif f.name in _URL_FIELDS:
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"Datasource({', '.join(shown)})"


def _redirect_uri(value: object, insecure: bool) -> str:
    """A loopback URI (RFC 8252 §7.3: the IP literal, path /callback, any or one port) or a
    Jupyter server's `.../nb-oauth/callback` (security.md#the-server-callback)."""
    uri = _url("redirect_uri", value, insecure) or DEFAULT_REDIRECT_URI
    parts = urlsplit(uri)
    hint = (
        f"use {DEFAULT_REDIRECT_URI} (this kernel's loopback address, any port) or your "
        f"Jupyter server's address followed by {SERVER_CALLBACK_PATH}"
    )
    if parts.query:
        raise ConfigError("redirect_uri", "has a query ('?...')", "remove it; " + hint)
    if parts.path.endswith(SERVER_CALLBACK_PATH):
        return uri
    if parts.hostname == "localhost":
        raise ConfigError(
            "redirect_uri",
            "uses 'localhost'",
            "use the IP literal 127.0.0.1 (RFC 8252 §8.3), and register that at the provider",
        )
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1"):
        if parts.path != CALLBACK_PATH:
            raise ConfigError(
                "redirect_uri",
                f"is a loopback address whose path is not {CALLBACK_PATH}",
                f"use {DEFAULT_REDIRECT_URI} (the port may be given, as in "
                f"http://127.0.0.1:8765{CALLBACK_PATH})",
            )
        return uri
    raise ConfigError(
        "redirect_uri",
        f"{_shown(redact_url(uri))} is neither a loopback address nor a Jupyter server's "
        f"{SERVER_CALLBACK_PATH}",
        hint,
    )


def _fetched_at(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError("metadata_fetched_at", "must be a time in seconds", "remove it")
    return float(value)


def _is_empty(value: object) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, tuple, dict, Mapping)) and not value


def _is_default(f: dataclasses.Field[Any], value: object) -> bool:
    if f.default is not dataclasses.MISSING:
        return bool(value == f.default)
    if f.default_factory is not dataclasses.MISSING:
        return bool(value == f.default_factory())
    return False


def _from_config(config: Mapping[str, object]) -> Datasource:
    return Datasource.from_config(config)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _text(name: str, value: object, *, required: bool = True) -> str:
    if value is None and required:
        raise ConfigError(name, "is missing", f"set the datasource's {name}")
    if not isinstance(value, str):
        raise ConfigError(name, f"must be a string, not {type(value).__name__}", "quote the value")
    value = value.strip()
    if required and not value:
        raise ConfigError(name, "is empty", f"set the datasource's {name}")
    if not value.isprintable():
        raise ConfigError(name, "contains control characters", "retype the value")
    return value


def _name(value: object) -> str:
    name = _text("name", value)
    if not _NAME.fullmatch(name):
        raise ConfigError(
            "name",
            f"{_shown(name)} has characters other than letters, digits, '-' and '_'",
            "use a name such as 'crm' or 'github-prod'",
        )
    return name


def _header_prefix(value: object) -> str:
    prefix = "" if value is None else _text("header_prefix", value, required=False)
    if not _HTTP_TOKEN.fullmatch(prefix):
        raise ConfigError(
            "header_prefix",
            f"{_shown(prefix)} is not one word",
            "use a single word such as 'Bearer' or 'token' (empty means 'Bearer')",
        )
    return prefix


def _query_param(value: object) -> str:
    name = _text("query_param", value)
    if not _UNRESERVED.fullmatch(name):
        raise ConfigError(
            "query_param",
            f"{_shown(name)} is not URL-safe",
            "use letters, digits and '-._~', such as 'access_token'",
        )
    return name


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, f"must be True or False, not {_shown(value)}", "pass a bool")
    return value


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        options = " or ".join(repr(option) for option in allowed)
        raise ConfigError(name, f"{_shown(value)} is not supported", f"use {options}")
    return str(value)


def _grant(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() in _REJECTED_GRANTS:
        raise ConfigError(
            "grant",
            _REJECTED_GRANTS[value.strip().lower()],
            "use 'authorization_code' (a browser sign-in, always with PKCE), 'device_code' (a "
            "sign-in with a short code, RFC 8628) or 'client_credentials' (server to server)",
        )
    return _choice("grant", value, ("authorization_code", "device_code", "client_credentials"))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_url(name: str, value: str) -> SplitResult:
    # Backslashes are read as '/' by browsers but not by urlsplit: refuse the ambiguity.
    if any(char.isspace() or char == "\\" for char in value) or not value.isprintable():
        raise ConfigError(name, "contains spaces, '\\' or control characters", "retype the URL")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ConfigError(name, "is not a valid URL", "use a URL like https://host/path") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(
            name,
            f"{_shown(redact_url(value))} is not an http(s) URL with a host",
            "use a URL like https://host/path",
        )
    if "@" in parts.netloc:
        # Never echo the URL: the userinfo may be a password.
        raise ConfigError(
            name,
            "contains credentials (user:password@)",
            "remove them; the client secret goes to nb_oauth.save(ds, client_secret=...)",
        )
    if "#" in value:
        raise ConfigError(name, "has a fragment ('#...')", "remove it (RFC 6749 §3.1, §3.2)")
    return parts


def _url(
    name: str, value: object, insecure: bool, *, required: bool = False, query: bool = True
) -> str | None:
    if not required and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    url = _text(name, value)
    parts = _split_url(name, url)
    _check_transport(name, parts, insecure)
    if not query and parts.query:
        raise ConfigError(name, "has a query component", "remove it (RFC 8414 §2)")
    return url


def _check_transport(name: str, parts: SplitResult, insecure: bool) -> None:
    loopback = _is_loopback(parts.hostname or "")
    if insecure and not loopback:
        raise ConfigError(
            "insecure_transport",
            f"is only for loopback test servers, but {name} is on {parts.hostname!r}",
            "remove insecure_transport=True",
        )
    if parts.scheme == "http" and not loopback:
        raise ConfigError(
            name,
            f"uses http:// on {parts.hostname!r}",
            "use https:// (RFC 6749 §10.9); http is allowed only on 127.0.0.1, ::1 "
            "and localhost",
        )


def _origin(url: str) -> str:
    # Called on URLs already checked to be http(s) with a host, so there is always an origin.
    found = origin(url)
    assert found is not None, "validated URLs have an origin"
    return found


def _origins(value: object, insecure: bool) -> tuple[str, ...]:
    origins = []
    for item in _items("extra_origins", value):
        parts = _split_url("extra_origins", item)
        if parts.path not in ("", "/") or parts.query:
            raise ConfigError(
                "extra_origins",
                f"{_shown(redact_url(item))} is not an origin",
                "give only scheme://host[:port], without a path",
            )
        _check_transport("extra_origins", parts, insecure)
        origins.append(_origin(item.strip()))
    return tuple(dict.fromkeys(origins))


def _items(name: str, value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in _LIST_SEPARATORS.split(value) if item]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise ConfigError(
            name,
            f"must be a string or a list, not {type(value).__name__}",
            "write e.g. 'read write' or ['read', 'write']",
        )
    items = []
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(
                name, f"contains {_shown(item)}, which is not a string", "quote every item"
            )
        if item.strip():
            items.append(item.strip())
    return items


def _scopes(value: object) -> tuple[str, ...]:
    scopes = _items("scopes", value)
    for scope in scopes:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ConfigError(
                "scopes",
                f"{_shown(scope)} is not a valid scope",
                "use printable ASCII without spaces, '\"' or '\\' (RFC 6749 §3.3)",
            )
    return tuple(dict.fromkeys(scopes))


def _params(name: str, value: object, reserved: frozenset[str]) -> Mapping[str, str]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            name,
            f"must be a mapping, not {type(value).__name__}",
            "write e.g. {'prompt': 'consent'}",
        )
    params: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip() or not isinstance(item, str):
            raise ConfigError(
                name,
                f"entry {_shown(key)} is not a string name with a string value",
                "quote names and values",
            )
        if key.strip().lower() in reserved:
            raise ConfigError(
                name,
                f"may not set the protocol parameter {key.strip()!r}",
                "remove it; nb_oauth sets it itself (RFC 6749 §3.1)",
            )
        params[key.strip()] = item
    return MappingProxyType(dict(sorted(params.items())))


def _resource(value: object) -> str | None:
    """RFC 8707 §2: an absolute URI without a fragment (usually the API's base URL)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # empty, as a form leaves it: no resource
    text = _text("resource", value)
    parts = urlsplit(text)
    if not parts.scheme or parts.fragment or "#" in text:
        raise ConfigError(
            "resource",
            f"{_shown(redact_url(text))} is not an absolute URI without a fragment",
            "give the API's identifier, usually its base URL (RFC 8707 §2)",
        )
    return text


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: Headers that are the auth's or httpx's to set.
_RESERVED_HEADERS = frozenset({"authorization", "host", "content-length", "cookie"})


def _headers(value: object) -> Mapping[str, str]:
    headers = _params("headers", value, frozenset())
    for name, item in headers.items():
        if not _HEADER_NAME.match(name):
            raise ConfigError("headers", f"{_shown(name)} is not a header name",
                              "use letters, digits and - only")
        if name.lower() in _RESERVED_HEADERS:
            raise ConfigError("headers", f"may not set {name}",
                              "nb_oauth and httpx set it themselves")
        if not item.isprintable():
            raise ConfigError("headers", f"the value of {name} has control characters",
                              "retype the value")
    return headers


_PAR_WORDS: Mapping[str, bool | None] = MappingProxyType(
    {"": None, "auto": None, "none": None, "true": True, "always": True, "false": False,
     "never": False}
)


def _par(value: object) -> bool | None:
    """None (push when the metadata requires it), True (always) or False (never); the words a
    form or the magic gives ("auto", "true", "false") mean the same."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _PAR_WORDS:
        return _PAR_WORDS[value.strip().lower()]
    raise ConfigError(
        "par", f"{_shown(value)} is not supported",
        "use None (when the server requires it), True (always) or False (never)",
    )


def _key_id(value: object) -> str | None:
    if value is None:
        return None
    return _text("key_id", value, required=False) or None


def _signing_alg(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # empty, as a form leaves it: the key type's default
    known = [alg for algs in SIGNING_ALGS.values() for alg in algs]
    if not isinstance(value, str) or value.strip() not in known:
        raise ConfigError(
            "signing_alg", f"{_shown(value)} is not supported",
            f"use one of {', '.join(known)}, or leave it empty for the key's default",
        )
    return value.strip()


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigError(
            "redirect_port",
            f"{_shown(value)} is not a port",
            "use 0 (any free port) or the port registered at the provider",
        )
    return value


def _leeway(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value >= 0)
    ):
        raise ConfigError(
            "refresh_leeway", f"{_shown(value)} is not a number of seconds >= 0", "use e.g. 60"
        )
    return float(value)
