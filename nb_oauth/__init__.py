"""nb_oauth: OAuth 2.0 datasources for Jupyter and IPython.

Configure a connection to an OAuth-protected API once, grant consent once, and call the API from any
cell through an httpx client that attaches the token and refreshes it by itself.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
