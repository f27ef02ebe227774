"""Storage containers, chosen by URL scheme and imported only when chosen.

- ``memory://``: :class:`~.memory.MemoryStorage`, volatile, fastest.
- ``file:///abs/dir``: :class:`~.file.FileStorage`, one file per session (PHP's files handler).
- ``sqlite:///abs/file.db``: :class:`~.sqlite.SqliteStorage`, in-memory index, SQLite behind.
- ``redis://host:port/db`` (``rediss://`` for TLS, ``redis+cluster://`` for Redis Cluster):
  :class:`~.redis.RedisStorage`, shared by several daemons (the ``redis`` extra).
- ``postgresql://user@host/db``: :class:`~.postgres.PostgresStorage`, shared by several
  daemons (the ``postgres`` extra).
"""

from __future__ import annotations

import importlib
import importlib.util
from urllib.parse import urlsplit

from .base import (
    FsyncPolicy,
    InlineStorage,
    LockLost,
    SharedStorage,
    Storage,
    StorageError,
    StorageOptions,
)
from .urls import parse_postgres_url, parse_redis_url, redact

__all__ = [
    "FsyncPolicy",
    "InlineStorage",
    "LockLost",
    "SharedStorage",
    "Storage",
    "StorageError",
    "StorageOptions",
    "check_url",
    "open_storage",
]

_REDIS = ("sessionserver.storage.redis", "RedisStorage", False)
_POSTGRES = ("sessionserver.storage.postgres", "PostgresStorage", False)

#: scheme -> (module, class, whether the URL names an absolute path)
_REGISTRY: dict[str, tuple[str, str, bool]] = {
    "memory": ("sessionserver.storage.memory", "MemoryStorage", False),
    "file": ("sessionserver.storage.file", "FileStorage", True),
    "sqlite": ("sessionserver.storage.sqlite", "SqliteStorage", True),
    "redis": _REDIS,
    "rediss": _REDIS,
    "redis+cluster": _REDIS,
    "rediss+cluster": _REDIS,
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
}

#: The driver a network store needs, and the extra that installs it.
_DRIVERS = {_REDIS: ("redis", "redis"), _POSTGRES: ("psycopg_pool", "postgres")}


def _schemes() -> str:
    return ", ".join(f"{s}://" for s in _REGISTRY)


def url_path(url: str) -> str:
    """The absolute path in a ``file:``/``sqlite:`` URL."""
    return urlsplit(url).path


def check_url(url: str) -> None:
    """Validate a storage URL without importing or opening anything.

    Raises:
        ValueError: with a one-line message naming what is wrong.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _REGISTRY:
        raise ValueError(f"unknown storage {redact(url)!r} (use one of {_schemes()})")
    entry = _REGISTRY[scheme]
    if entry is _REDIS:
        parse_redis_url(url)
    elif entry is _POSTGRES:
        parse_postgres_url(url)
    if entry in _DRIVERS:
        module, extra = _DRIVERS[entry]
        if importlib.util.find_spec(module) is None:
            raise ValueError(
                f"storage {scheme}:// needs the {extra} extra: pip install 'sessionserver[{extra}]'"
            )
    if _REGISTRY[scheme][2]:
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise ValueError(
                f"storage {url!r} needs an absolute path, as in {scheme}:///var/lib/sessions"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"storage {url!r}: query strings are not supported")


def open_storage(url: str, options: StorageOptions) -> Storage:
    """Instantiate the container for ``url`` (call ``await storage.start()`` next)."""
    check_url(url)
    module_name, class_name, _ = _REGISTRY[urlsplit(url).scheme.lower()]
    cls: type[Storage] = getattr(importlib.import_module(module_name), class_name)
    return cls(url, options)
