"""Storage containers, chosen by URL scheme and imported only when chosen.

- ``memory://``: :class:`~.memory.MemoryStorage`, volatile, fastest.
- ``file:///abs/dir``: :class:`~.file.FileStorage`, one file per session (PHP's files handler).
- ``sqlite:///abs/file.db``: :class:`~.sqlite.SqliteStorage`, in-memory index, SQLite behind.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from .base import FsyncPolicy, Storage, StorageError, StorageOptions

__all__ = [
    "FsyncPolicy",
    "Storage",
    "StorageError",
    "StorageOptions",
    "check_url",
    "open_storage",
]

#: scheme -> (module, class, whether the URL names an absolute path)
_REGISTRY: dict[str, tuple[str, str, bool]] = {
    "memory": ("sessionserver.storage.memory", "MemoryStorage", False),
    "file": ("sessionserver.storage.file", "FileStorage", True),
    "sqlite": ("sessionserver.storage.sqlite", "SqliteStorage", True),
}


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
        raise ValueError(f"unknown storage {url!r} (use one of {_schemes()})")
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
