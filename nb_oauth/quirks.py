"""`Quirks`: how a provider departs from the RFCs in ways a datasource field cannot say.

Presets (`nb_oauth.presets`) switch them on; a datasource without a preset follows the RFCs, with
the defaults below. Kept apart from the presets so that code reading a quirk does not load the
preset table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Quirks", "RFC"]


@dataclass(frozen=True)
class Quirks:
    """`scope_separator` joins scopes on the wire (RFC 6749 §3.3: a space; Strava, Zoho and Slack
    want commas). `scope_param` is the authorization request's parameter for them (Slack user
    tokens: `user_scope`). `token_member`: the token response holds the user's token set inside
    this member (Slack: `authed_user`), sent as a Bearer token whatever its `token_type` says.
    `api_base_member`: the token response names the API's root in this member (Salesforce
    `instance_url`, Zoho `api_domain`); it becomes the datasource's `base_url` at sign-in.
    `device_auth_params`: the `auth_params` that the device authorization request (RFC 8628 §3.1)
    carries too, where the provider takes them there (Auth0: `audience`); RFC 8628 names only
    `client_id` and `scope`, so no others are sent to a device endpoint."""

    scope_separator: str = " "
    scope_param: str = "scope"
    token_member: str | None = None
    api_base_member: str | None = None
    #: A multi-tenant endpoint's issuer shape (Microsoft `common`/`organizations`): its metadata
    #: states this template, and a response's `iss` names one tenant's issuer in its place.
    issuer_template: str | None = None
    device_auth_params: tuple[str, ...] = ()

    def issuer_matches(self, configured: str, stated: str | None) -> bool:
        """Is `stated` (a response's `iss`, a metadata `issuer`) the configured issuer, or, for
        a templated issuer, the template itself or one tenant's issuer of exactly its shape?"""
        if stated == configured:
            return True
        template = self.issuer_template
        if template is None or stated is None:
            return False
        if stated == template:
            return True
        prefix, _, suffix = template.partition("{tenantid}")
        if not (stated.startswith(prefix) and stated.endswith(suffix)):
            return False
        # A tenant id is a GUID: nothing else may stand in its place.
        return _GUID.fullmatch(stated[len(prefix):len(stated) - len(suffix)]) is not None


_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: What the RFCs say: every datasource without a preset.
RFC = Quirks()
