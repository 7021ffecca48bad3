"""The pieces of token requests, one module per concern, pure and free of HTTP libraries.

* `nb_oauth.grants.pkce`: PKCE verifier and challenge (RFC 7636) and the `state` value.
* `nb_oauth.grants.client_auth`: client authentication methods by RFC name (RFC 6749 §2.3) and
  the encoding of token request bodies.

The httpx adapter turns their plain dicts and bytes into requests.
"""

from __future__ import annotations

__all__: list[str] = []
