"""The Redis container (``redis://``, ``rediss://``, ``redis+cluster://``): see
:mod:`.storage` for the key layout and :mod:`.connection` for the way it talks to Redis."""

from __future__ import annotations

from .storage import RedisStorage

__all__ = ["RedisStorage"]
