"""Python clients of the session daemon: ``SessionClient`` (threads) and
``AsyncSessionClient`` (asyncio), one design, the sync one generated from the async one."""

from __future__ import annotations

from ._async.client import AsyncSessionClient
from ._async.pool import AsyncConnectionPool
from ._async.session import AsyncSessionHandle
from ._config import DEFAULT_URL, ClientConfig
from ._sync.client import SessionClient
from ._sync.pool import ConnectionPool
from ._sync.session import SessionHandle

__all__ = [
    "DEFAULT_URL",
    "AsyncConnectionPool",
    "AsyncSessionClient",
    "AsyncSessionHandle",
    "ClientConfig",
    "ConnectionPool",
    "SessionClient",
    "SessionHandle",
]
