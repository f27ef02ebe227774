"""What a ``redis://`` or ``rediss://`` URL says about the connection: host, port, ``AUTH``,
the database, and the TLS context (``ssl_*`` query parameters, as redis-py reads them)."""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import RedisSSLContext, parse_url

from ..urls import REDIS_TLS_PARAMETERS

__all__ = ["connection_options"]


def connection_options(target: str) -> dict[str, Any]:
    """The keyword arguments of :class:`~.connection.RedisConnection` for ``target`` (a URL
    checked by :func:`~..urls.parse_redis_url`), bar the timeout."""
    given: dict[str, Any] = dict(parse_url(target))
    ssl = None
    if target.startswith("rediss:"):
        tls: dict[str, Any] = {"cert_reqs": "required", "check_hostname": True}
        for name in REDIS_TLS_PARAMETERS:
            if name in given:
                tls[name.removeprefix("ssl_")] = given[name]
        ssl = RedisSSLContext(**tls).get()
    return {
        "host": given.get("host", "localhost"),
        "port": int(given.get("port", 6379)),
        "ssl": ssl,
        "username": given.get("username"),
        "password": given.get("password"),
        "db": int(given.get("db", 0)),
    }
