"""Expiry bookkeeping shared by the containers that keep their own index.

:class:`TimingWheel` files each session under the second in which it expires, so reclaiming
expired sessions costs time proportional to what expired (plus one dict lookup per elapsed
second), never a scan of every session.  Moving a session when it is touched is two set
operations.  A heap was the alternative: sliding expiry re-keys an entry on every access, which
a heap can only do by pushing a duplicate, so it grows with traffic rather than with sessions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

__all__ = ["TimingWheel", "expires_at"]


def expires_at(atime: float, ttl: int, deadline: float | None) -> float:
    """When a session last accessed at ``atime`` expires (idle lifetime, absolute deadline)."""
    idle = atime + ttl
    return idle if deadline is None or idle < deadline else deadline


class TimingWheel:
    """Session ids bucketed by expiry second.

    A session expiring at ``t`` sits in bucket ``int(t) + 1``: everything in bucket ``k`` has
    expired once ``now >= k``, so :meth:`due` never returns a live session.
    """

    __slots__ = ("_buckets", "_cursor")

    def __init__(self) -> None:
        self._buckets: dict[int, set[bytes]] = {}
        self._cursor: int | None = None

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())

    def footprint(self) -> int:
        """Bytes used by the wheel's own structures (not the ids, which the index owns)."""
        return sys.getsizeof(self._buckets) + sum(
            sys.getsizeof(bucket) for bucket in self._buckets.values()
        )

    def add(self, sid: bytes, expires: float) -> None:
        key = int(expires) + 1
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = bucket = set()
        bucket.add(sid)
        if self._cursor is not None and key < self._cursor:
            self._cursor = key

    def remove(self, sid: bytes, expires: float) -> None:
        key = int(expires) + 1
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.discard(sid)
            if not bucket:
                del self._buckets[key]

    def move(self, sid: bytes, old: float, new: float) -> None:
        if int(old) != int(new):
            self.remove(sid, old)
            self.add(sid, new)

    def due(self, now: float) -> list[bytes]:
        """Remove and return the sessions whose bucket has passed."""
        end = int(now)
        if self._cursor is None:
            self._cursor = min(self._buckets, default=end + 1)
        found: list[bytes] = []
        pop = self._buckets.pop
        for key in range(self._cursor, end + 1):
            bucket = pop(key, None)
            if bucket:
                found.extend(bucket)
        self._cursor = max(self._cursor, end + 1)
        return found

    def upto(self, limit: float) -> Iterator[bytes]:
        """Sessions in buckets up to ``limit`` (inclusive), without removing them."""
        start = self._cursor if self._cursor is not None else min(self._buckets, default=0)
        start = min(start, min(self._buckets, default=start))
        for key in range(start, int(limit) + 2):
            bucket = self._buckets.get(key)
            if bucket:
                yield from list(bucket)
