"""The real Redis and PostgreSQL servers of this machine, as the tests use them.

Each test gets its own key prefix (Redis) or schema (PostgreSQL) and cleans up only that: the
servers are shared with whatever else runs here, so nothing is ever flushed.  A server that is
down makes these tests fail, never skip (``.ci/run`` starts both first).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from .helpers import Daemon
from .proxy import Proxy

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def unique_name(kind: str) -> str:
    """A fresh prefix or schema name for one test."""
    return f"sstest_{kind}_{secrets.token_hex(4)}"


def redis_storage_url(prefix: str, base: str = REDIS_URL) -> str:
    return f"{base}?prefix={prefix}"


def postgres_storage_url(schema: str, base: str = POSTGRES_URL) -> str:
    return f"{base}?schema={schema}"


def drop_redis_prefix(prefix: str, url: str = REDIS_URL) -> int:
    """Delete every key under ``prefix:`` (on every node of a ``redis+cluster://`` URL); how
    many."""
    import redis
    from redis.cluster import RedisCluster

    if url.startswith("redis+cluster://"):
        cluster = RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1))
        try:
            keys = list(cluster.scan_iter(match=f"{prefix}:*", count=1000))
            for key in keys:  # one slot per key
                cluster.delete(key)
            return len(keys)
        finally:
            cluster.close()
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


def redis_keys(prefix: str, url: str = REDIS_URL) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sorted(client.scan_iter(match=f"{prefix}:*", count=1000))
    finally:
        client.close()


def drop_postgres_schema(schema: str, url: str = POSTGRES_URL) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextlib.contextmanager
def daemon_behind_proxy(
    tmp_path: Path, kind: Literal["redis", "postgres"], *args: str, timeout: float = 1.0
) -> Iterator[tuple[Daemon, Proxy]]:
    """A daemon on the real Redis or PostgreSQL through a :class:`Proxy` the test can cut
    (``timeout``: the store's), and a prefix or schema of its own, dropped afterwards."""
    unique = unique_name("proxied")
    target = ("127.0.0.1", 6379 if kind == "redis" else 5432)
    with Proxy(target) as proxy:
        if kind == "redis":
            url = f"redis://127.0.0.1:{proxy.port}/0?prefix={unique}&timeout={timeout:g}"
        else:
            url = (
                f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
                f"?schema={unique}&timeout={timeout:g}"
            )
        daemon = Daemon.start(tmp_path, "--storage", url, *args)
        try:
            yield daemon, proxy
        finally:
            proxy.up()
            daemon.stop()
            if kind == "redis":
                drop_redis_prefix(unique)
            else:
                drop_postgres_schema(unique)
