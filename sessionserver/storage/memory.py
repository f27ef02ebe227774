"""``memory://``: sessions in the daemon's memory; volatile and the fastest.

Every method completes without suspending, so the daemon runs them inline.  Memory per session
is kept low on purpose (the target is an idle 5-field, 200-byte session in under 600 bytes): the
pairs of an idle session are one ``marshal`` blob rather than a dict of strings (a dict of dicts
costs ~770 bytes), and an entry holds only the blob, the last access time and, for the few
sessions that need it, a ``(ttl, deadline)`` tuple.  ``marshal`` is only an in-memory format;
persistent containers write :mod:`.pairs`, whose format does not depend on the Python version.

Sessions in use are kept decoded: the entry holds the dict itself, so a request cycle (read,
then write) neither decodes nor encodes.  At most ``HOT_LIMIT`` entries are held that way; past
it, all of them are encoded back (amortised: one encode per entry per ``HOT_LIMIT`` accesses).
Mappings returned by :meth:`MemoryStorage.load` and passed to ``save``/``create`` are shared
with the store from then on: callers copy before changing them (the dispatcher does).

:class:`MemoryStorage` also carries the hooks (``_persist_*``) through which the SQLite
container writes behind this same index.
"""

from __future__ import annotations

import marshal
import sys
from itertools import chain, islice

from ..ids import is_valid_id
from .base import Storage, StorageOptions
from .index import Entry, SessionIndex

__all__ = ["HOT_LIMIT", "MemoryStorage", "decode", "encode"]

#: How many sessions may be held decoded at once (see the module docstring).
HOT_LIMIT = 1024


def encode(data: dict[bytes, bytes]) -> bytes:
    """The compact in-memory blob of a session's pairs."""
    return marshal.dumps(tuple(chain.from_iterable(data.items())))


def decode(blob: bytes) -> dict[bytes, bytes]:
    """The pairs held in a compact in-memory blob."""
    flat = marshal.loads(blob)
    return dict(zip(flat[::2], flat[1::2], strict=True))


def pairs_of(blob: object) -> dict[bytes, bytes]:
    """The pairs of an entry's blob, hot (a dict) or compact."""
    if isinstance(blob, dict):
        return blob
    assert isinstance(blob, bytes)
    return decode(blob)


class MemoryStorage(Storage):
    """Sessions in a :class:`SessionIndex`; see the module docstring."""

    scheme = "memory"
    inline = True
    #: Whether the ``_persist_*`` hooks do anything (checked before calling them).
    persistent = False

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        self.index = SessionIndex(options.ttl, options.max_lifetime)
        self.index.on_drop = self._dropped
        self._map = self.index.map
        self._hot: list[Entry] = []

    # -- hot entries ----------------------------------------------------------------------------

    def _pairs(self, e: Entry) -> dict[bytes, bytes]:
        blob = e.blob
        if blob.__class__ is dict:
            return blob
        data = decode(blob)
        self._heat(e, data)
        return data

    def _heat(self, e: Entry, data: dict[bytes, bytes]) -> None:
        if e.blob.__class__ is not dict:
            hot = self._hot
            if len(hot) >= HOT_LIMIT:
                self.cool()
            hot.append(e)
        e.blob = data

    def cool(self) -> None:
        """Encode every decoded entry back into its compact blob."""
        for e in self._hot:
            if e.blob.__class__ is dict:
                e.blob = encode(e.blob)
        self._hot.clear()

    def _dropped(self, sid: bytes) -> None:
        if self.persistent:
            self._persist_delete(sid)
        if self.events is not None:
            self.events.dropped(sid)

    async def replay(self) -> None:
        events = self.events
        if events is not None:
            for sid, e in self._map.items():
                events.saved(sid, pairs_of(e.blob))

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
        if e.meta is None:  # the common case, inlined: index.live() and index.touch()
            ttl = index.ttl
            old = e.atime + ttl
            if old <= now:
                index.drop(sid, e)
                index.expired_total += 1
                return None
            previous = e.atime
            e.atime = now
            if old // 1 != (now + ttl) // 1:  # floor division: int() is a call
                index.wheel.move(sid, old, now + ttl)
        else:
            if index.live(sid, now) is None:
                return None
            previous = e.atime
            index.touch(sid, e, now)
        if self.persistent:
            self._persist_touch(sid, e, previous)
        blob = e.blob
        if blob.__class__ is dict:
            return blob
        return self._pairs(e)

    async def load(self, sid: bytes, now: float) -> dict[bytes, bytes] | None:
        return self.load_now(sid, now)

    async def create(
        self, sid: bytes, data: dict[bytes, bytes], now: float, ttl: int | None = None
    ) -> bool:
        index = self.index
        if not is_valid_id(sid) or index.live(sid, now) is not None:
            return False
        e = index.new_entry(b"", now)
        self._heat(e, data)
        index.insert(sid, e)
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
        if e.meta is None:  # the common case, inlined: index.live() and index.touch()
            ttl = index.ttl
            old = e.atime + ttl
            if old <= now:
                index.drop(sid, e)
                index.expired_total += 1
                return False
            e.atime = now
            if old // 1 != (now + ttl) // 1:  # floor division: int() is a call
                index.wheel.move(sid, old, now + ttl)
        else:
            if index.live(sid, now) is None:
                return False
            index.touch(sid, e, now)
        if e.blob.__class__ is dict:
            e.blob = data
        else:
            self._heat(e, data)
        if self.persistent:
            self._persist(sid, e)
        if self.events is not None:
            self.events.saved(sid, data)
        return True

    async def save(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        return self.save_now(sid, data, now)

    async def delete(self, sid: bytes, now: float) -> bool:
        e = self.index.live(sid, now)
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
        if self.persistent:
            self._persist(new, e)
        if events is not None:
            events.renamed(old, new)
        return True

    async def get_ttl(self, sid: bytes, now: float) -> float | None:
        e = self.index.live(sid, now)
        return None if e is None else self.index.expires(e) - now

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
        e = self.index.live(sid, now)
        if e is None:
            return None
        return pairs_of(e.blob), self.index.expires(e) - now

    async def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        return self.index.scan(cursor, count, now)

    def info(self) -> dict[str, int | float | str]:
        return {
            "expired_total": self.index.expired_total,
            "bytes_per_session": self.bytes_per_session(),
        }

    def bytes_per_session(self, sample: int = 256) -> int:
        """Estimated memory of an idle session: the entry, its id, its compact blob, and its
        share of the index and the expiry wheel (sampled; hot entries counted as compact)."""
        n = len(self._map)
        if not n:
            return 0
        size = sys.getsizeof
        own = 0
        taken = 0
        for sid, e in islice(self._map.items(), sample):
            blob = e.blob if isinstance(e.blob, bytes) else encode(pairs_of(e.blob))
            own += size(sid) + size(e) + size(blob) + size(e.atime)
            if e.meta is not None:
                own += size(e.meta) + sum(size(x) for x in e.meta if x is not None)
            taken += 1
        return round(own / taken + self.index.footprint() / n)
