"""sessionserver: a central session server for Python web applications.

The daemon is ``sessionserver serve``; Python programs talk to it with :class:`SessionClient`
(threads) or :class:`AsyncSessionClient` (asyncio).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .client import AsyncSessionClient, ClientConfig, SessionClient

__all__ = ["AsyncSessionClient", "ClientConfig", "SessionClient", "__version__"]
