"""The in-memory index of sessions: entries, records, expiry arithmetic and the expiry wheel.

The memory and SQLite containers keep their sessions in it; the file container keeps only
metadata in it (its pairs live in the files).  Everything here is synchronous and owned by one
thread.

A session in use is an :class:`Entry` holding its pairs as a dict, so that a request cycle
(read, then write) neither decodes nor encodes.  An idle one is a **record**, one ``bytes``
object (what Redis's listpack is to a hash): its access time, the lifetimes it has of its own
if any, and its pairs packed by :mod:`.pairs`.  A 5-field, 200-byte session is a 254-byte
object beside its id in the map, against an entry, a float, a dict and ten strings.  At most
``HOT_LIMIT`` sessions are held as entries (those :meth:`SessionIndex.heat` was told of); past
it, all of them become records again (amortised: one encode per session per ``HOT_LIMIT``
thaws).  Only the containers that heat entries get records: the file container never does.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from itertools import islice
from typing import Any

from .expiry import TimingWheel, expires_at
from .pairs import pack, unpack

__all__ = ["HOT_LIMIT", "Entry", "SessionIndex"]

#: How many sessions may be held as entries at once (see the module docstring).
HOT_LIMIT = 1024

#: A record: access time, which lifetimes follow (bit 0: ttl, bit 1: deadline), then those,
#: then the packed pairs.
_HEAD = struct.Struct("<dB")
_TTL = struct.Struct("<q")
_DEADLINE = struct.Struct("<d")
_HAS_TTL, _HAS_DEADLINE = 1, 2

Meta = tuple[int | None, float | None] | None


class Entry:
    """One stored session, as the containers use it.

    Attributes:
        blob: the pairs, in whatever form the container keeps them (a dict for memory and
            SQLite; nothing for the file container).
        atime: last access, wall-clock seconds.
        meta: None, or ``(ttl, deadline)`` for a session with its own idle lifetime (``ttl``
            not None) or an absolute deadline (``deadline`` not None).
    """

    __slots__ = ("atime", "blob", "meta")

    def __init__(self, blob: Any, atime: float, meta: Meta) -> None:
        self.blob = blob
        self.atime = atime
        self.meta = meta


def record(atime: float, meta: Meta, payload: bytes) -> bytes:
    """The record of a session; ``payload`` is its pairs as :func:`.pairs.pack` packs them."""
    if meta is None:
        return _HEAD.pack(atime, 0) + payload
    ttl, deadline = meta
    flags = (ttl is not None) * _HAS_TTL | (deadline is not None) * _HAS_DEADLINE
    parts = [_HEAD.pack(atime, flags)]
    if ttl is not None:
        parts.append(_TTL.pack(ttl))
    if deadline is not None:
        parts.append(_DEADLINE.pack(deadline))
    parts.append(payload)
    return b"".join(parts)


def fields(rec: bytes) -> tuple[float, Meta, int]:
    """A record's access time, lifetimes and where its packed pairs start."""
    atime, flags = _HEAD.unpack_from(rec)
    if not flags:
        return atime, None, _HEAD.size
    pos = _HEAD.size
    ttl = deadline = None
    if flags & _HAS_TTL:
        (ttl,) = _TTL.unpack_from(rec, pos)
        pos += _TTL.size
    if flags & _HAS_DEADLINE:
        (deadline,) = _DEADLINE.unpack_from(rec, pos)
        pos += _DEADLINE.size
    return atime, (ttl, deadline), pos


def freeze(e: Entry) -> bytes:
    """The record of an entry whose blob is its pairs."""
    return record(e.atime, e.meta, pack(e.blob))


class SessionIndex:
    """Sessions by id (entries or records), with expiry in a :class:`TimingWheel`.

    ``on_drop`` is called with the id of every entry removed (expired, deleted, renamed away).
    """

    def __init__(self, ttl: int, max_lifetime: int | None) -> None:
        self.map: dict[bytes, Entry | bytes] = {}
        self.wheel = TimingWheel()
        self.ttl = ttl
        self.max_ttl = ttl
        self.max_lifetime = max_lifetime
        self.expired_total = 0
        self.on_drop: Callable[[bytes], None] | None = None
        #: How many sessions may be held as entries (tests set 0: all but the latest thawed
        #: are records).
        self.hot_limit = HOT_LIMIT
        self._hot: list[bytes] = []

    def __len__(self) -> int:
        return len(self.map)

    def expires(self, e: Entry | bytes) -> float:
        if isinstance(e, bytes):
            atime, meta, _ = fields(e)
        else:
            atime, meta = e.atime, e.meta
        if meta is None:
            return atime + self.ttl
        ttl, deadline = meta
        return expires_at(atime, self.ttl if ttl is None else ttl, deadline)

    def new_entry(self, blob: Any, now: float) -> Entry:
        max_lifetime = self.max_lifetime
        return Entry(blob, now, None if max_lifetime is None else (None, now + max_lifetime))

    # -- entries and records --------------------------------------------------------------------

    def heat(self, sid: bytes) -> None:
        """``sid`` is held as an entry from now on, until the next :meth:`cool`."""
        hot = self._hot
        if len(hot) >= self.hot_limit:
            self.cool()
        hot.append(sid)

    def cool(self) -> None:
        """Turn every entry :meth:`heat` was told of back into a record."""
        index = self.map
        for sid in self._hot:
            e = index.get(sid)
            if isinstance(e, Entry):
                index[sid] = freeze(e)
        self._hot.clear()

    def thaw(self, sid: bytes, rec: bytes, data: dict[bytes, bytes] | None = None) -> Entry:
        """Hold ``sid``'s record as an entry, with ``data`` for its pairs if given (else the
        record's)."""
        atime, meta, start = fields(rec)
        e = Entry(unpack(rec[start:]) if data is None else data, atime, meta)
        self.map[sid] = e
        self.heat(sid)
        return e

    def pairs(self, e: Entry | bytes) -> dict[bytes, bytes]:
        """The pairs of an entry or a record, without thawing it."""
        if isinstance(e, bytes):
            return unpack(e[fields(e)[2] :])
        blob: dict[bytes, bytes] = e.blob
        return blob

    def state(self, e: Entry | bytes) -> tuple[dict[bytes, bytes] | bytes, float, Meta]:
        """An entry's pairs, or a record's packed pairs, with its access time and lifetimes."""
        if isinstance(e, bytes):
            atime, meta, start = fields(e)
            return e[start:], atime, meta
        return e.blob, e.atime, e.meta

    # -- the index ------------------------------------------------------------------------------

    def find(self, sid: bytes, now: float) -> Entry | bytes | None:
        """The entry or record if present and not expired; an expired one is dropped on the
        way."""
        e = self.map.get(sid)
        if e is not None and self.expires(e) <= now:
            self.drop(sid, e)
            self.expired_total += 1
            return None
        return e

    def live(self, sid: bytes, now: float) -> Entry | None:
        """As :meth:`find`, a record thawed into an entry."""
        e = self.find(sid, now)
        return self.thaw(sid, e) if isinstance(e, bytes) else e

    def touch(self, sid: bytes, e: Entry, now: float) -> None:
        e.atime = now  # later expiry: the wheel finds out when the session's bucket is due

    def insert(self, sid: bytes, e: Entry | bytes) -> None:
        self.map[sid] = e
        self.wheel.add(sid, self.expires(e))

    def drop(self, sid: bytes, e: Entry | bytes) -> None:
        del self.map[sid]  # its id stays in the wheel until its bucket is due
        if self.on_drop is not None:
            self.on_drop(sid)

    def set_ttl(self, sid: bytes, e: Entry, ttl: int, now: float) -> None:
        old = self.expires(e)
        deadline = None if e.meta is None else e.meta[1]
        e.meta = None if ttl == self.ttl and deadline is None else (ttl, deadline)
        e.atime = now
        self.max_ttl = max(self.max_ttl, ttl)
        new = self.expires(e)
        if new < old:
            self.wheel.add(sid, new)

    def purge(self, now: float) -> list[bytes]:
        """Remove expired entries; return their ids."""
        purged: list[bytes] = []
        get = self.map.get
        for sid in self.wheel.due(now):
            e = get(sid)
            if e is None:
                continue
            expires = self.expires(e)
            if expires <= now:
                del self.map[sid]
                purged.append(sid)
                if self.on_drop is not None:
                    self.on_drop(sid)
            else:  # its expiry moved on since it was filed
                self.wheel.add(sid, expires)
        self.expired_total += len(purged)
        return purged

    def idle(self, idle: float, now: float) -> list[bytes]:
        """Remove entries not accessed for more than ``idle`` seconds; return their ids."""
        removed = self.purge(now)
        # Anyone idle for longer than ``idle`` expires before now - idle + max_ttl, and is
        # filed at or before that.
        for sid in list(self.wheel.upto(now - idle + self.max_ttl)):
            e = self.map.get(sid)
            if e is not None and now - (fields(e)[0] if isinstance(e, bytes) else e.atime) > idle:
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
