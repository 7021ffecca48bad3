"""Provider presets: data, one row per provider, that fill a datasource's defaults.

`Datasource(provider="github", client_id=...)` takes its endpoints, scopes, extra parameters, API
base and headers from the preset; any field the user gives wins, endpoints included (so a preset
can be pointed at a test server). Options (`tenant`, `host`, `region`, ...) are filled into the
preset's templated values. The config file keeps the preset's name, its options and the user's
own fields, not the resolved values, so a corrected preset reaches datasources saved before.

Each preset cites the provider's documentation pages it was written from; docs/provider-notes/
holds what those pages say. Imported only when a datasource names a provider, so `%load_ext
nb_oauth` does not pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from nb_oauth.errors import ConfigError
from nb_oauth.quirks import RFC, Quirks

__all__ = ["describe", "Option", "Preset", "PRESETS", "preset_defaults", "providers"]


@dataclass(frozen=True)
class Option:
    """A preset's parameter. No `default` means the user must give it; `choices`, when given,
    are the only values accepted. A `host`-like option (`plain`) is a bare name: no scheme, path
    or query, so it cannot bend the URL it is put into."""

    name: str
    help: str
    default: str | None = None
    choices: tuple[str, ...] = ()
    plain: bool = True


@dataclass(frozen=True)
class Preset:
    """One provider: what it fills in, and where that comes from."""

    name: str
    description: str
    docs: tuple[str, ...]
    register: str  # where a user registers the app
    defaults: Mapping[str, object]  # datasource fields; str values may hold {option} templates
    options: tuple[Option, ...] = ()
    notes: str = ""  # what the user must know (shown by %datasource providers)
    quirks: Quirks = RFC

    def option_names(self) -> list[str]:
        return [option.name for option in self.options]


def _preset(name: str, description: str, *, docs: tuple[str, ...], register: str,
            options: tuple[Option, ...] = (), notes: str = "", quirks: Quirks = RFC,
            **defaults: object) -> Preset:
    return Preset(name, description, docs, register, MappingProxyType(defaults), options, notes,
                  quirks)


_PRESETS = (
    # docs/provider-notes/github.md: form-encoded token answers unless Accept: application/json
    # (nb_oauth always sends it), errors with HTTP 200 (handled for every datasource), comma-
    # separated granted scopes, OAuth App tokens without expiry, GitHub App user tokens of 8 h
    # with rotating refresh tokens, PKCE S256 but a client secret still required.
    _preset(
        "github", "GitHub (OAuth Apps and GitHub App user tokens)",
        docs=(
            "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
            "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/"
            "generating-a-user-access-token-for-a-github-app",
            "https://docs.github.com/en/rest/about-the-rest-api/api-versions",
        ),
        register="https://github.com/settings/developers",
        authorization_url="https://github.com/login/oauth/authorize",
        token_url="https://github.com/login/oauth/access_token",
        # Device flow (docs/provider-notes/github.md, "Device grant"): the client id alone.
        device_authorization_url="https://github.com/login/device/code",
        base_url="https://api.github.com",
        client_auth="body",
        headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
        notes="An OAuth App has one callback URL: register http://127.0.0.1/callback (any port "
        "is accepted for loopback callbacks); GitHub Apps want each callback URL registered. "
        "For grant device_code tick 'Enable Device Flow' in the app's settings; no client "
        "secret is needed.",
    ),
    # docs/provider-notes/gitlab.md: every endpoint on the instance's host; 2 h access tokens,
    # refresh tokens replaced on each refresh; PKCE without a secret for non-confidential apps.
    _preset(
        "gitlab", "GitLab.com or a self-managed GitLab (option host)",
        docs=("https://docs.gitlab.com/api/oauth2/",
              "https://docs.gitlab.com/api/oauth2/#device-authorization-grant-flow"),
        register="https://{host}/-/user_settings/applications",
        options=(Option("host", "the GitLab instance's host name", default="gitlab.com"),),
        authorization_url="https://{host}/oauth/authorize",
        token_url="https://{host}/oauth/token",
        revocation_url="https://{host}/oauth/revoke",
        device_authorization_url="https://{host}/oauth/authorize_device",
        base_url="https://{host}/api/v4",
        issuer="https://{host}",
        notes="Register the exact redirect URI you use, e.g. http://127.0.0.1:8765/callback with "
        "redirect_port=8765. Grant device_code needs GitLab 17.9 or later (17.2-17.8 behind a "
        "feature flag); leave 'Confidential' unticked to sign in without a secret.",
    ),
    # docs/provider-notes/google.md: Desktop app clients, loopback 127.0.0.1 with any port,
    # S256 PKCE; refresh tokens need access_type=offline (prompt=consent to get one again).
    _preset(
        "google", "Google APIs (Desktop app OAuth client)",
        docs=(
            "https://developers.google.com/identity/protocols/oauth2/native-app",
            "https://developers.google.com/identity/protocols/oauth2/web-server",
            "https://developers.google.com/identity/protocols/oauth2/limited-input-device",
        ),
        register="https://console.cloud.google.com/apis/credentials",
        authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        revocation_url="https://oauth2.googleapis.com/revoke",
        # Answers verification_url, not verification_uri (read for every datasource).
        device_authorization_url="https://oauth2.googleapis.com/device/code",
        issuer="https://accounts.google.com",
        client_auth="body",
        auth_params={"access_type": "offline", "prompt": "consent"},
        notes="Create a 'Desktop app' client; projects in Testing status get refresh tokens that "
        "expire after 7 days. Grant device_code needs a 'TVs and Limited Input devices' client, "
        "its secret saved (Google wants it when polling), and allows only a limited set of "
        "scopes.",
    ),
    # docs/provider-notes/microsoft.md: tenant-templated endpoints; refresh tokens only with
    # offline_access; scopes re-sent on refresh; multi-tenant metadata issuer is templated.
    _preset(
        "microsoft", "Microsoft identity platform / Microsoft Graph (option tenant)",
        docs=(
            "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",
            "https://learn.microsoft.com/en-us/entra/identity-platform/reply-url",
            "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code",
        ),
        register="https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps",
        options=(Option("tenant", "organizations, common, consumers, a tenant id or domain",
                        default="organizations"),),
        authorization_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        device_authorization_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
        base_url="https://graph.microsoft.com",
        issuer="https://login.microsoftonline.com/{tenant}/v2.0",
        scopes=("offline_access", "User.Read"),
        client_auth="body",
        send_scope_on_refresh=True,
        # The metadata of common/organizations states a templated issuer
        # (docs/provider-notes/microsoft.md, section 9).
        quirks=Quirks(issuer_template="https://login.microsoftonline.com/{tenantid}/v2.0"),
        notes="Register a 'Mobile and desktop applications' redirect URI http://localhost (the "
        "port is ignored when matching); offline_access is what brings a refresh token. Grant "
        "device_code needs 'Allow public client flows' set to Yes and no client secret saved.",
    ),
    # docs/provider-notes/dropbox.md: token_access_type=offline for a refresh token; PKCE
    # without a secret works; API on api.dropboxapi.com/2 (content on content.dropboxapi.com).
    _preset(
        "dropbox", "Dropbox",
        docs=("https://developers.dropbox.com/oauth-guide",
              "https://dropbox.tech/developers/using-oauth-2-0-with-offline-access"),
        register="https://www.dropbox.com/developers/apps",
        authorization_url="https://www.dropbox.com/oauth2/authorize",
        token_url="https://api.dropboxapi.com/oauth2/token",
        base_url="https://api.dropboxapi.com",
        extra_origins=("https://content.dropboxapi.com",),
        auth_params={"token_access_type": "offline"},
    ),
    # docs/provider-notes/spotify.md: 127.0.0.1 (not localhost) registered without a port
    # accepts any port; Basic client authentication; refresh may or may not rotate.
    _preset(
        "spotify", "Spotify Web API",
        docs=("https://developer.spotify.com/documentation/web-api/tutorials/code-flow",
              "https://developer.spotify.com/documentation/web-api/concepts/redirect_uri"),
        register="https://developer.spotify.com/dashboard",
        authorization_url="https://accounts.spotify.com/authorize",
        token_url="https://accounts.spotify.com/api/token",
        base_url="https://api.spotify.com",
        notes="Register http://127.0.0.1/callback without a port; localhost is refused.",
    ),
    # docs/provider-notes/atlassian.md: audience=api.atlassian.com and prompt=consent on the
    # authorization request; offline_access for a refresh token (rotating); calls go to
    # api.atlassian.com/ex/jira/{cloudid}, the cloud id from accessible-resources.
    _preset(
        "atlassian", "Atlassian Cloud: Jira and Confluence (OAuth 2.0 3LO)",
        docs=("https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/",
              "https://developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens"),
        register="https://developer.atlassian.com/console/myapps/",
        authorization_url="https://auth.atlassian.com/authorize",
        token_url="https://auth.atlassian.com/oauth/token",
        base_url="https://api.atlassian.com",
        scopes=("offline_access",),
        auth_params={"audience": "api.atlassian.com", "prompt": "consent"},
        client_auth="body",
        notes="Calls go to /ex/jira/{cloudid}/...: GET /oauth/token/accessible-resources lists "
        "the sites and their ids.",
    ),
    # docs/provider-notes/notion.md: HTTP Basic with a JSON body on the token endpoint; no
    # scopes; Notion-Version required on every API call.
    _preset(
        "notion", "Notion (public integrations)",
        docs=("https://developers.notion.com/guides/get-started/authorization",
              "https://developers.notion.com/reference/versioning"),
        register="https://www.notion.so/profile/integrations",
        authorization_url="https://api.notion.com/v1/oauth/authorize",
        token_url="https://api.notion.com/v1/oauth/token",
        revocation_url="https://api.notion.com/v1/oauth/revoke",
        base_url="https://api.notion.com",
        body_encoding="json",
        # Required on every call; two copies of the versioning page list different latest
        # versions (2026-03-11, 2025-09-03): the older one is pinned, give --header to move.
        headers={"Notion-Version": "2025-09-03"},
    ),
    # docs/provider-notes/hubspot.md: the 2026-03 token API (v1 retires 2027-02-16), form body;
    # http redirects only for localhost (not 127.0.0.1); 30-minute access tokens.
    _preset(
        "hubspot", "HubSpot",
        docs=("https://developers.hubspot.com/docs/apps/developer-platform/build-apps/"
              "authentication/oauth/working-with-oauth",),
        register="https://developers.hubspot.com/",
        authorization_url="https://app.hubspot.com/oauth/authorize",
        token_url="https://api.hubapi.com/oauth/2026-03/token",
        revocation_url="https://api.hubapi.com/oauth/2026-03/token/revoke",
        base_url="https://api.hubapi.com",
        client_auth="body",
        notes="HubSpot accepts http redirect URIs only on localhost: register "
        "http://localhost:PORT/callback and open the sign-in link on this machine.",
    ),
    # docs/provider-notes/xero.md: PKCE apps without a secret; offline_access for refresh
    # tokens (rotating, 30-minute grace); every API call names its organisation in
    # xero-tenant-id (from GET /Connections), so that header is the user's to set.
    _preset(
        "xero", "Xero",
        docs=("https://developer.xero.com/documentation/oauth2/pkce-flow",
              "https://developer.xero.com/documentation/oauth2/scopes"),
        register="https://developer.xero.com/app/manage",
        authorization_url="https://login.xero.com/identity/connect/authorize",
        token_url="https://identity.xero.com/connect/token",
        base_url="https://api.xero.com",
        scopes=("offline_access",),
        notes="Each API call needs the header xero-tenant-id (GET /Connections lists them): add "
        "it with --header xero-tenant-id=ID.",
    ),
    # docs/provider-notes/okta.md: the org authorization server, or a custom one
    # (authorization_server=default or its id); offline_access for refresh tokens; native apps
    # are public clients with S256 PKCE.
    _preset(
        "okta", "Okta (options domain, authorization_server)",
        docs=("https://developer.okta.com/docs/concepts/auth-servers/",
              "https://developer.okta.com/docs/guides/implement-grant-type/authcodepkce/main/",
              "https://developer.okta.com/docs/guides/device-authorization-grant/main/"),
        register="https://{domain}/admin/apps/active",
        options=(Option("domain", "your Okta domain, e.g. dev-123.okta.com"),
                 Option("authorization_server", "default, or a custom server id",
                        default="default")),
        authorization_url="https://{domain}/oauth2/{authorization_server}/v1/authorize",
        token_url="https://{domain}/oauth2/{authorization_server}/v1/token",
        revocation_url="https://{domain}/oauth2/{authorization_server}/v1/revoke",
        device_authorization_url="https://{domain}/oauth2/{authorization_server}/v1/device/authorize",
        issuer="https://{domain}/oauth2/{authorization_server}",
        scopes=("openid", "offline_access"),
        client_auth="none",
        notes="Grant device_code: a native app with the Device Authorization grant type ticked.",
    ),
    # docs/provider-notes/auth0.md: tenant domain (or custom domain); without audience the access
    # token only works for /userinfo; callbacks must match exactly, port included.
    _preset(
        "auth0", "Auth0 (options domain, audience)",
        docs=("https://auth0.com/docs/get-started/authentication-and-authorization-flow/"
              "authorization-code-flow-with-pkce",
              "https://auth0.com/docs/api/authentication",
              "https://auth0.com/docs/get-started/authentication-and-authorization-flow/"
              "device-authorization-flow"),
        register="https://manage.auth0.com/#/applications",
        options=(Option("domain", "your tenant's domain, e.g. example.eu.auth0.com"),
                 Option("audience", "the API identifier of your API in Auth0", plain=False)),
        authorization_url="https://{domain}/authorize",
        token_url="https://{domain}/oauth/token",
        revocation_url="https://{domain}/oauth/revoke",
        device_authorization_url="https://{domain}/oauth/device/code",
        issuer="https://{domain}/",
        scopes=("openid", "offline_access"),
        auth_params={"audience": "{audience}"},
        client_auth="none",
        notes="Register the exact callback, port included (set redirect_port). Grant "
        "device_code: a Native app with the Device Code grant type on.",
        # The device code request takes the audience too (auth0.md, Device grant).
        quirks=Quirks(device_auth_params=("audience",)),
    ),
    # docs/provider-notes/strava.md: comma-separated scopes; expires_at beside expires_in (read
    # for every datasource); client id and secret as form fields; loopback hosts white-listed by
    # the callback domain.
    _preset(
        "strava", "Strava",
        docs=("https://developers.strava.com/docs/authentication/",),
        register="https://www.strava.com/settings/api",
        authorization_url="https://www.strava.com/oauth/authorize",
        token_url="https://www.strava.com/oauth/token",
        base_url="https://www.strava.com/api/v3",
        scopes=("read",),
        client_auth="body",
        quirks=Quirks(scope_separator=","),
        notes="Set the app's Authorization Callback Domain to 127.0.0.1.",
    ),
    # docs/provider-notes/salesforce.md: every endpoint on the login host (My Domain preferred);
    # the API is wherever the token response's instance_url says; no expires_in (the session
    # timeout applies, so renewal follows the API's 401); refresh_token scope for a refresh token.
    _preset(
        "salesforce", "Salesforce (option host: login.salesforce.com or your My Domain)",
        docs=("https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_endpoints"
              ".htm&language=en_US&type=5",
              "https://help.salesforce.com/apex/HTViewHelpDoc?id=xcloud.remoteaccess_oauth_web_"
              "server_flow_ca.htm"),
        register="https://{host}/lightning/setup/NavigationMenus/home",
        options=(Option("host", "login.salesforce.com, test.salesforce.com or your My Domain "
                        "host", default="login.salesforce.com"),),
        authorization_url="https://{host}/services/oauth2/authorize",
        token_url="https://{host}/services/oauth2/token",
        revocation_url="https://{host}/services/oauth2/revoke",
        scopes=("api", "refresh_token"),
        client_auth="body",
        quirks=Quirks(api_base_member="instance_url"),
        notes="The API's base URL is the instance_url Salesforce names at sign-in.",
    ),
    # docs/provider-notes/slack.md: user tokens: the user's scopes go in user_scope (comma-
    # separated) and the token comes back nested in authed_user; errors as {"ok": false}; HTTP
    # Basic preferred for the client secret.
    _preset(
        "slack", "Slack (user tokens)",
        docs=("https://docs.slack.dev/authentication/installing-with-oauth",
              "https://docs.slack.dev/reference/methods/oauth.v2.access",
              "https://docs.slack.dev/authentication/using-token-rotation"),
        register="https://api.slack.com/apps",
        authorization_url="https://slack.com/oauth/v2/authorize",
        token_url="https://slack.com/api/oauth.v2.access",
        base_url="https://slack.com/api",
        quirks=Quirks(scope_separator=",", scope_param="user_scope",
                      token_member="authed_user"),
        notes="Tokens expire (and refresh) only with token rotation turned on for the app.",
    ),
    # docs/provider-notes/zoho.md: accounts host per data centre; access_type=offline for a
    # refresh token; the Zoho-oauthtoken scheme on API calls; comma-separated scopes.
    _preset(
        "zoho", "Zoho (option region: data centre)",
        docs=("https://www.zoho.com/accounts/protocol/oauth/web-apps/authorization.html",
              "https://www.zoho.com/accounts/protocol/oauth/multi-dc.html"),
        register="https://api-console.zoho.com/",
        options=(Option("region", "the data centre of the account", default="us",
                        choices=("us", "eu", "in", "au", "jp", "ca", "sa", "uk", "cn")),),
        authorization_url="https://{accounts}/oauth/v2/auth",
        token_url="https://{accounts}/oauth/v2/token",
        revocation_url="https://{accounts}/oauth/v2/token/revoke",
        header_prefix="Zoho-oauthtoken",
        client_auth="body",
        auth_params={"access_type": "offline", "prompt": "consent"},
        quirks=Quirks(scope_separator=",", api_base_member="api_domain"),
        notes="API calls go to the api_domain Zoho names at sign-in: it becomes the base URL.",
    ),
    # docs/provider-notes/keycloak.md: realm endpoints under /realms/{realm}; 127.0.0.1 with any
    # port when registered without one.
    _preset(
        "keycloak", "Keycloak (options host, realm)",
        docs=("https://www.keycloak.org/docs/latest/server_admin/#_oidc_clients",
              "https://www.keycloak.org/securing-apps/oidc-layers"),
        register="https://{host}/admin/master/console/",
        options=(Option("host", "the Keycloak server, host[:port]"),
                 Option("realm", "the realm name")),
        authorization_url="https://{host}/realms/{realm}/protocol/openid-connect/auth",
        token_url="https://{host}/realms/{realm}/protocol/openid-connect/token",
        revocation_url="https://{host}/realms/{realm}/protocol/openid-connect/revoke",
        device_authorization_url="https://{host}/realms/{realm}/protocol/openid-connect/auth/device",
        issuer="https://{host}/realms/{realm}",
        notes="Grant device_code: turn on 'OAuth 2.0 Device Authorization Grant' in the client's "
        "capability config.",
    ),
)

#: Zoho's accounts server per data centre (docs/provider-notes/zoho.md).
_ZOHO_ACCOUNTS = {
    "us": "accounts.zoho.com", "eu": "accounts.zoho.eu", "in": "accounts.zoho.in",
    "au": "accounts.zoho.com.au", "jp": "accounts.zoho.jp", "ca": "accounts.zohocloud.ca",
    "sa": "accounts.zoho.sa", "uk": "accounts.zoho.uk", "cn": "accounts.zoho.com.cn",
}

PRESETS: Mapping[str, Preset] = MappingProxyType({preset.name: preset for preset in _PRESETS})


def providers() -> dict[str, str]:
    """The presets: name → one-line description."""
    return {name: preset.description for name, preset in sorted(PRESETS.items())}


def preset_defaults(provider: str, options: Mapping[str, str]) -> dict[str, object]:
    """The datasource fields `provider` fills in, with its options applied.

    Raises `ConfigError` (one line, listing what is valid) for an unknown provider, an unknown
    option, a missing one, or a value the option does not accept.
    """
    preset = PRESETS.get(provider)
    if preset is None:
        raise ConfigError("provider", f"{provider!r} is not a preset",
                          f"use one of {', '.join(sorted(PRESETS))}, or give the endpoints")
    values = _options(preset, options)
    if preset.name == "zoho":
        values["accounts"] = _ZOHO_ACCOUNTS[values["region"]]
    return {name: _fill(value, values) for name, value in preset.defaults.items()}


def _options(preset: Preset, given: Mapping[str, str]) -> dict[str, str]:
    valid = preset.option_names()
    unknown = [name for name in given if name not in valid]
    if unknown:
        choices = ", ".join(valid) or "none"
        raise ConfigError("provider_options", f"{preset.name} has no option {unknown[0]!r}",
                          f"its options are: {choices}")
    values: dict[str, str] = {}
    for option in preset.options:
        value = given.get(option.name, option.default)
        if value is None or not value.strip():
            raise ConfigError("provider_options", f"{preset.name} needs the option {option.name} "
                              f"({option.help})", f"give it, e.g. {option.name}=VALUE")
        value = value.strip()
        if option.choices and value not in option.choices:
            raise ConfigError("provider_options", f"{option.name}={value!r} is not valid for "
                              f"{preset.name}", f"use one of {', '.join(option.choices)}")
        if any(c in value for c in "/?#@ \\" if option.plain or c in "?# \\"):
            raise ConfigError("provider_options", f"{option.name}={value!r} is not a plain name",
                              "give only the name, e.g. a host without https:// or a path")
        values[option.name] = value
    return values


def _fill(value: object, values: Mapping[str, str]) -> object:
    if isinstance(value, str):
        return value.format_map(values)
    if isinstance(value, Mapping):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


def describe(preset: Preset) -> str:
    """A few lines about `preset` for `%datasource providers NAME`."""
    options = ", ".join(
        f"{o.name}" + (f" (default {o.default})" if o.default else " (required)")
        for o in preset.options
    ) or "none"
    lines = [f"{preset.name}: {preset.description}", f"  options: {options}",
             f"  register the app at: {preset.register}"]
    if preset.notes:
        lines.append(f"  {preset.notes}")
    lines += [f"  docs: {url}" for url in preset.docs]
    return "\n".join(lines)

