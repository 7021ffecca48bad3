"""What one run of the demo provider is configured with."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DemoSettings"]


@dataclass(frozen=True)
class DemoSettings:
    """Per-run switches of the demo provider.

    ``now`` is the provider's clock: tests pass a fake one and move it forward instead of sleeping
    for a token to expire.
    """

    token_lifetime: int = 3600
    issue_refresh_token: bool = True
    rotate_refresh_tokens: bool = True
    auto_approve: bool = False
    # RFC 8628 §3.2: how long a device code lives and how often clients may poll.
    device_code_lifetime: int = 600
    device_interval: int = 5
    # Polls closer together than this get slow_down (default: device_interval). Set above the
    # advertised interval, it plays a server whose interval changed under the client.
    device_min_interval: int | None = None
    # Authorization header schemes the protected API accepts, compared case-insensitively.
    api_token_prefixes: tuple[str, ...] = ("Bearer",)
    now: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        if self.token_lifetime <= 0:
            raise ValueError("token_lifetime must be a positive number of seconds")
        if not self.api_token_prefixes:
            raise ValueError("api_token_prefixes needs at least one scheme, such as 'Bearer'")
