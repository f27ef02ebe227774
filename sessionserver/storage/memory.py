"""``memory://``: sessions in the daemon's memory; volatile and the fastest.

Every method completes without suspending, so the daemon runs them inline.  Sessions live in a
:class:`.index.SessionIndex`: an idle one is one record (its access time, lifetimes and packed
pairs in a single ``bytes``; an idle 5-field, 200-byte session costs about 400 bytes in all),
one in use an entry holding its pairs as a dict, so that a request cycle (read, then write)
neither decodes nor encodes.  Mappings returned by :meth:`MemoryStorage.load` and passed to
``save``/``create`` are shared with the store from then on: callers copy before changing them
(the session manager does).

:class:`MemoryStorage` also carries the hooks (``_persist_*``) through which the SQLite
container writes behind this same index.
"""

from __future__ import annotations

import sys
from itertools import islice

from ..ids import is_valid_id
from .base import InlineStorage, StorageOptions
from .index import Entry, SessionIndex, freeze

__all__ = ["MemoryStorage"]


class MemoryStorage(InlineStorage):
    """Sessions in a :class:`SessionIndex`; see the module docstring."""

    scheme = "memory"
    #: Whether the ``_persist_*`` hooks do anything (checked before calling them).
    persistent = False

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        self.index = SessionIndex(options.ttl, options.max_lifetime)
        self.index.on_drop = self._dropped
        self._map = self.index.map

    def cool(self) -> None:
        """Turn every session held as an entry back into a record."""
        self.index.cool()

    def _dropped(self, sid: bytes) -> None:
        if self.persistent:
            self._persist_delete(sid)
        if self.events is not None:
            self.events.dropped(sid)

    async def replay(self) -> None:
        events = self.events
        if events is not None:
            pairs = self.index.pairs
            for sid, e in self._map.items():
                events.saved(sid, pairs(e))

    # -- persistence hooks (the SQLite container writes behind through these) ------------------

    def _persist(self, sid: bytes, e: Entry) -> None:
        """The entry's data or metadata changed."""

    def _persist_delete(self, sid: bytes) -> None:
        """The entry is gone."""

    def _persist_touch(self, sid: bytes, e: Entry, previous_atime: float) -> None:
        """Only the entry's access time changed."""

    # -- the contract ---------------------------------------------------------------------------

    def load_now(self, sid: bytes, now: float) -> dict[bytes, bytes] | None:
        e = self._map.get(sid)
        if e is None:
            return None
        index = self.index
        if isinstance(e, bytes):  # idle: a record
            e = index.live(sid, now)
            if e is None:
                return None
        elif e.meta is None:  # the common case: index.live() inlined
            if e.atime + index.ttl <= now:
                index.drop(sid, e)
                index.expired_total += 1
                return None
        elif index.live(sid, now) is None:
            return None
        previous = e.atime
        e.atime = now  # index.touch(), inlined
        if self.persistent:
            self._persist_touch(sid, e, previous)
        data: dict[bytes, bytes] = e.blob
        return data

    async def load(self, sid: bytes, now: float) -> dict[bytes, bytes] | None:
        return self.load_now(sid, now)

    async def create(
        self, sid: bytes, data: dict[bytes, bytes], now: float, ttl: int | None = None
    ) -> bool:
        index = self.index
        if not is_valid_id(sid) or index.live(sid, now) is not None:
            return False
        e = index.new_entry(data, now)
        index.insert(sid, e)
        index.heat(sid)
        if ttl is not None:
            index.set_ttl(sid, e, ttl, now)
        if self.persistent:
            self._persist(sid, e)
        if self.events is not None:
            self.events.saved(sid, data)
        return True

    def save_now(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        e = self._map.get(sid)
        if e is None:
            return False
        index = self.index
        if isinstance(e, bytes):  # idle: a record, whose pairs are replaced (not decoded)
            if index.expires(e) <= now:
                index.drop(sid, e)
                index.expired_total += 1
                return False
            e = index.thaw(sid, e, data)
        elif e.meta is None:  # the common case: index.live() inlined
            if e.atime + index.ttl <= now:
                index.drop(sid, e)
                index.expired_total += 1
                return False
        elif index.live(sid, now) is None:
            return False
        e.atime = now
        e.blob = data
        if self.persistent:
            self._persist(sid, e)
        if self.events is not None:
            self.events.saved(sid, data)
        return True

    async def save(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        return self.save_now(sid, data, now)

    async def delete(self, sid: bytes, now: float) -> bool:
        e = self.index.find(sid, now)
        if e is None:
            return False
        self.index.drop(sid, e)
        return True

    async def rename(self, old: bytes, new: bytes, now: float) -> bool:
        index = self.index
        if not is_valid_id(new) or index.live(new, now) is not None:
            return False
        e = index.live(old, now)
        if e is None:
            return False
        events, self.events = self.events, None  # a move, not a drop and a save
        try:
            index.drop(old, e)
        finally:
            self.events = events
        e.atime = now
        index.insert(new, e)
        index.heat(new)
        if self.persistent:
            self._persist(new, e)
        if events is not None:
            events.renamed(old, new)
        return True

    def get_ttl_now(self, sid: bytes, now: float) -> float | None:
        e = self.index.find(sid, now)
        return None if e is None else self.index.expires(e) - now

    async def get_ttl(self, sid: bytes, now: float) -> float | None:
        return self.get_ttl_now(sid, now)

    async def set_ttl(self, sid: bytes, ttl: int, now: float) -> bool:
        e = self.index.live(sid, now)
        if e is None:
            return False
        self.index.set_ttl(sid, e, ttl, now)
        if self.persistent:
            self._persist(sid, e)
        return True

    async def purge_expired(self, now: float) -> int:
        return len(self.index.purge(now))

    async def gc(self, idle: float, now: float) -> int:
        return len(self.index.idle(idle, now))

    async def count(self, now: float) -> int:
        self.index.purge(now)
        return len(self._map)

    async def peek(self, sid: bytes, now: float) -> tuple[dict[bytes, bytes], float] | None:
        e = self.index.find(sid, now)
        if e is None:
            return None
        return self.index.pairs(e), self.index.expires(e) - now

    async def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        return self.index.scan(cursor, count, now)

    def info(self) -> dict[str, int | float | str]:
        return {
            "expired_total": self.index.expired_total,
            "bytes_per_session": self.bytes_per_session(),
        }

    def bytes_per_session(self, sample: int = 256) -> int:
        """Estimated memory of an idle session: its id, its record, and its share of the index
        and the expiry wheel (sampled; entries counted as the records they become)."""
        n = len(self._map)
        if not n:
            return 0
        size = sys.getsizeof
        own = 0
        taken = 0
        for sid, e in islice(self._map.items(), sample):
            own += size(sid) + size(e if isinstance(e, bytes) else freeze(e))
            taken += 1
        return round(own / taken + self.index.footprint() / n)
