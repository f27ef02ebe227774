"""The in-memory index of sessions: entries, expiry arithmetic and the expiry wheel.

The memory and SQLite containers keep their sessions in it; the file container keeps only
metadata in it (its pairs live in the files).  Everything here is synchronous and owned by one
thread.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import islice
from typing import Any

from .expiry import TimingWheel, expires_at

__all__ = ["Entry", "SessionIndex"]


class Entry:
    """One stored session.

    Attributes:
        blob: the pairs, in whatever form the container keeps them (see memory.py).
        atime: last access, wall-clock seconds.
        meta: None, or ``(ttl, deadline)`` for a session with its own idle lifetime (``ttl``
            not None) or an absolute deadline (``deadline`` not None).
    """

    __slots__ = ("atime", "blob", "meta")

    def __init__(
        self,
        blob: Any,
        atime: float,
        meta: tuple[int | None, float | None] | None,
    ) -> None:
        self.blob = blob
        self.atime = atime
        self.meta = meta


class SessionIndex:
    """Sessions by id, with expiry in a :class:`TimingWheel`.

    ``on_drop`` is called with the id of every entry removed (expired, deleted, renamed away).
    """

    def __init__(self, ttl: int, max_lifetime: int | None) -> None:
        self.map: dict[bytes, Entry] = {}
        self.wheel = TimingWheel()
        self.ttl = ttl
        self.max_ttl = ttl
        self.max_lifetime = max_lifetime
        self.expired_total = 0
        self.on_drop: Callable[[bytes], None] | None = None

    def __len__(self) -> int:
        return len(self.map)

    def expires(self, e: Entry) -> float:
        meta = e.meta
        if meta is None:
            return e.atime + self.ttl
        ttl, deadline = meta
        return expires_at(e.atime, self.ttl if ttl is None else ttl, deadline)

    def new_entry(self, blob: Any, now: float) -> Entry:
        max_lifetime = self.max_lifetime
        return Entry(blob, now, None if max_lifetime is None else (None, now + max_lifetime))

    def live(self, sid: bytes, now: float) -> Entry | None:
        """The entry if present and not expired; an expired one is dropped on the way."""
        e = self.map.get(sid)
        if e is not None and self.expires(e) <= now:
            self.drop(sid, e)
            self.expired_total += 1
            return None
        return e

    def touch(self, sid: bytes, e: Entry, now: float) -> None:
        old = self.expires(e)
        e.atime = now
        self.wheel.move(sid, old, self.expires(e))

    def insert(self, sid: bytes, e: Entry) -> None:
        self.map[sid] = e
        self.wheel.add(sid, self.expires(e))

    def drop(self, sid: bytes, e: Entry) -> None:
        del self.map[sid]
        self.wheel.remove(sid, self.expires(e))
        if self.on_drop is not None:
            self.on_drop(sid)

    def set_ttl(self, sid: bytes, e: Entry, ttl: int, now: float) -> None:
        old = self.expires(e)
        deadline = None if e.meta is None else e.meta[1]
        e.meta = None if ttl == self.ttl and deadline is None else (ttl, deadline)
        e.atime = now
        self.max_ttl = max(self.max_ttl, ttl)
        self.wheel.move(sid, old, self.expires(e))

    def purge(self, now: float) -> list[bytes]:
        """Remove expired entries; return their ids."""
        purged: list[bytes] = []
        for sid in self.wheel.due(now):
            e = self.map.get(sid)
            if e is None:
                continue
            if self.expires(e) <= now:
                del self.map[sid]
                purged.append(sid)
                if self.on_drop is not None:
                    self.on_drop(sid)
            else:  # cannot happen while the wheel is kept in step; never lose track of one
                self.wheel.add(sid, self.expires(e))
        self.expired_total += len(purged)
        return purged

    def idle(self, idle: float, now: float) -> list[bytes]:
        """Remove entries not accessed for more than ``idle`` seconds; return their ids."""
        removed = self.purge(now)
        # Anyone idle for longer than ``idle`` expires before now - idle + max_ttl.
        for sid in list(self.wheel.upto(now - idle + self.max_ttl)):
            e = self.map.get(sid)
            if e is not None and now - e.atime > idle:
                self.drop(sid, e)
                removed.append(sid)
        return removed

    def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        """Live ids from position ``cursor`` in the index (see ``Storage.scan``)."""
        ids: list[bytes] = []
        position = cursor
        for sid in islice(self.map, cursor, None):
            position += 1
            e = self.map[sid]
            if self.expires(e) > now:
                ids.append(sid)
                if len(ids) >= count:
                    break
        return (position if position < len(self.map) else 0), ids

    def footprint(self) -> int:
        """Bytes of the index's own tables (dict and wheel), not of the entries."""
        return sys.getsizeof(self.map) + self.wheel.footprint()
