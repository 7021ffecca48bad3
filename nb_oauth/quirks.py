"""`Quirks`: how a provider departs from the RFCs in ways a datasource field cannot say.

Presets (`nb_oauth.presets`) switch them on; a datasource without a preset follows the RFCs, with
the defaults below. Kept apart from the presets so that code reading a quirk does not load the
preset table.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Quirks", "RFC"]


@dataclass(frozen=True)
class Quirks:
    """`scope_separator` joins scopes on the wire (RFC 6749 §3.3: a space; Strava, Zoho and Slack
    want commas). `scope_param` is the authorization request's parameter for them (Slack user
    tokens: `user_scope`)."""

    scope_separator: str = " "
    scope_param: str = "scope"


#: What the RFCs say: every datasource without a preset.
RFC = Quirks()
