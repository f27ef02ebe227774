"""Expiry bookkeeping shared by the containers that keep their own index.

:class:`TimingWheel` files each session under the second in which it expires, so reclaiming
expired sessions costs time proportional to what expired (plus one dict lookup per elapsed
second), never a scan of every session.  A heap was the alternative: sliding expiry re-keys an
entry on every access, which a heap can only do by pushing a duplicate, so it grows with
traffic rather than with sessions.

Filing is lazy, so that an access costs the wheel nothing and a session only 8 bytes of it: a
session stays where it was filed when an access pushes its expiry later, and a deleted one
stays until its bucket comes round.  The invariant is that every live session is filed at or
before the bucket of its expiry; whoever takes a due bucket (the index) checks each id against
its real expiry and files the live ones again, where they now belong.
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
    """Session ids bucketed by expiry second (lazily: see the module docstring).

    A session expiring at ``t`` is filed in bucket ``int(t) + 1``: everything in bucket ``k``
    that still expires where it was filed has expired once ``now >= k``.
    """

    __slots__ = ("_buckets", "_cursor")

    def __init__(self) -> None:
        self._buckets: dict[int, list[bytes]] = {}
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
            self._buckets[key] = [sid]
        else:
            bucket.append(sid)
        if self._cursor is not None and key < self._cursor:
            self._cursor = key

    def due(self, now: float) -> list[bytes]:
        """Remove and return the ids filed in buckets that have passed (each once; some may
        belong to sessions that live on, or are gone)."""
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
        return list(dict.fromkeys(found))

    def upto(self, limit: float) -> Iterator[bytes]:
        """Ids filed in buckets up to ``limit`` (inclusive), without removing them."""
        start = self._cursor if self._cursor is not None else min(self._buckets, default=0)
        start = min(start, min(self._buckets, default=start))
        for key in range(start, int(limit) + 2):
            bucket = self._buckets.get(key)
            if bucket:
                yield from list(bucket)
