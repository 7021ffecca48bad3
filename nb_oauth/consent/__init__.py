"""Getting the user's consent (authorization code grant): the authorization request, the
loopback catcher and the paste-the-URL path for remote kernels."""

from __future__ import annotations

from nb_oauth.consent.catcher import CALLBACK_PATH, LoopbackCatcher
from nb_oauth.consent.request import AuthorizationRequest, IgnoredResponse, IssuerMismatch

__all__ = [
    "AuthorizationRequest",
    "CALLBACK_PATH",
    "IgnoredResponse",
    "IssuerMismatch",
    "LoopbackCatcher",
]
