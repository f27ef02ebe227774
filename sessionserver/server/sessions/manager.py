"""The session manager: the one place that knows what each session command means.

Modes, locks, commit, expiry, ids, limits and the user index are decided here and nowhere else;
command handlers (``dispatcher.py``) only parse arguments and call a method below.  The manager
reaches its store only through its :mod:`strategy`, chosen when the daemon starts, so no
method asks what the store can do.

Public methods return the reply value at once when no store call has to wait, or a future of
it (``self.run`` runs a coroutine inline until it really waits, see ``eager.py``); store
failures become the reply the protocol table gives each command.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from ...ids import generate_id, is_valid_id
from ...protocol.replies import (
    CLOSE_FAILED,
    COMMIT_FAILED,
    DESTROY_FAILED,
    GONE,
    LOCK_LOST,
    LOCKED,
    OPEN_FAILED,
    READ_ONLY,
    REGENERATE_FAILED,
    SESSION_OPEN_HERE,
    STORAGE_UNAVAILABLE,
    Err,
)
from ...storage import LockLost, StorageError
from .counters import Counters, rss_bytes
from .limits import Limits, check_pairs, check_put, size_of
from .state import READ, WRITE, ConnectionState
from .strategy import LocalStrategy

__all__ = ["SessionManager"]

logger = logging.getLogger(__name__)

Pairs = dict[bytes, bytes]
#: A reply value, or a future of one (see the module docstring).
Reply = Any


class SessionManager:
    """Sessions of one daemon; see the module docstring."""

    def __init__(
        self,
        strategy: LocalStrategy,
        *,
        limits: Limits,
        counters: Counters,
        allow_client_ids: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.strategy = strategy
        self.run = strategy.run
        self.limits = limits
        self.counters = counters
        self.allow_client_ids = allow_client_ids
        self.now = clock
        self._barrier = strategy.barrier

    def _wrote(self, st: ConnectionState) -> None:
        # Replies to a write wait for the store's durability barrier, where it has one.
        st.barrier = self._barrier()

    def _unlock(self, st: ConnectionState) -> None:
        if st.locked is not None:
            self.strategy.unlock(st, st.locked)
            st.locked = None

    # -- open, new -------------------------------------------------------------------------------

    def open(self, st: ConnectionState, sid: bytes, mode: int) -> Reply:
        """``open <id> [mode]``: a reader sees the last committed state and never waits; a
        writer takes the session's lock, in arrival order."""
        return self.run(self._open(st, sid, mode))

    async def _open(self, st: ConnectionState, sid: bytes, mode: int) -> Err | None:
        if st.sid is not None:
            await self._finish(st, True)
        if not is_valid_id(sid):
            return OPEN_FAILED
        strategy = self.strategy
        now = self.now()
        if mode == READ:
            pairs = await strategy.read(sid, now)
            if pairs is None:
                return OPEN_FAILED
            st.bind(sid, READ, pairs)  # the store's own mapping: a reader never changes it
            return None
        st.locked = sid  # from now on a disconnect releases it, granted or still queued
        data = await strategy.lock(st, sid, now)
        if isinstance(data, Err):
            st.locked = None
            return data
        if data is None:
            try:
                created = self.allow_client_ids and await strategy.create(sid, {}, now, None)
            except BaseException:
                self._unlock(st)
                raise
            if not created:
                self._unlock(st)
                return OPEN_FAILED
            self.counters.sessions_created += 1
            self._wrote(st)
            data = {}
        st.bind(sid, WRITE, dict(data))  # the working copy
        return None

    def new(self, st: ConnectionState) -> Reply:
        """``new``: a fresh session, open for writing; its id."""
        return self.run(self._new(st))

    async def _new(self, st: ConnectionState) -> bytes | Err:
        if st.sid is not None:
            await self._finish(st, True)
        sid = await self._create({}, None)
        if sid is None:
            return STORAGE_UNAVAILABLE
        self._wrote(st)
        st.locked = sid
        if not await self.strategy.take(st, sid, self.now()):
            st.locked = None
            return LOCKED
        st.bind(sid, WRITE, {})
        return sid

    async def _create(self, data: Pairs, ttl: int | None) -> bytes | None:
        for _ in range(8):
            sid = generate_id()
            if await self.strategy.create(sid, data, self.now(), ttl):
                self.counters.sessions_created += 1
                return sid
        return None  # 128 random bits do not collide: the store is refusing writes

    # -- commit, close, abort --------------------------------------------------------------------

    def commit(self, st: ConnectionState) -> Reply:
        """``commit``: save, unlock, keep the session open read-only."""
        if not st.dirty or st.lost:
            return self._release(st, False)
        return self.run(self._save(st, False))

    def close(self, st: ConnectionState) -> Reply:
        """``close``: save, unlock and close the session."""
        if not st.dirty or st.lost:
            return self._release(st, True)
        return self.run(self._save(st, True))

    async def _finish(self, st: ConnectionState, close: bool) -> Err | None:
        if not st.dirty or st.lost:
            return self._release(st, close)
        return await self._save(st, close)

    def _release(self, st: ConnectionState, close: bool) -> Err | None:
        """Close or commit without saving (nothing changed, or the lease was lost)."""
        result = LOCK_LOST if st.lost else None
        self._unlock(st)
        if close:
            st.unbind()
        else:
            st.mode = READ
            st.lost = False
        return result

    async def _save(self, st: ConnectionState, close: bool) -> Err | None:
        sid = st.sid
        assert sid is not None
        try:
            saved = await self.strategy.save(st, sid, st.data, self.now())
        except LockLost:
            st.lost = True  # another daemon holds the lock now: nothing was saved
            return self._release(st, close)
        except StorageError as exc:
            logger.error("saving a session failed: %s", exc)
            if not close:
                return COMMIT_FAILED  # keep the lock and the changes: the client may retry
            self._unlock(st)
            st.unbind()
            return CLOSE_FAILED
        st.locked = None  # the strategy released it with the save
        if not saved:
            st.unbind()
            return GONE
        self._wrote(st)
        st.dirty = False
        if close:
            st.unbind()
        else:
            st.mode = READ
        return None

    def abort(self, st: ConnectionState) -> None:
        """``abort``: drop the changes, unlock, close."""
        self._unlock(st)
        st.unbind()

    def disconnect(self, st: ConnectionState) -> None:
        """The connection is gone: drop uncommitted changes, release the lock."""
        self.abort(st)

    # -- the working copy ------------------------------------------------------------------------

    def _writable(self, st: ConnectionState) -> Err | None:
        if st.mode != WRITE:
            return LOCK_LOST if st.lost else READ_ONLY
        return None

    def put(self, st: ConnectionState, key: bytes, value: bytes) -> Err | None:
        """``put <key> <value>``, within the limits."""
        if st.mode != WRITE:
            return LOCK_LOST if st.lost else READ_ONLY
        data = st.data
        size = st.size
        grown = check_put(self.limits, data, size_of(data) if size < 0 else size, key, value)
        if isinstance(grown, Err):
            return grown
        data[key] = value
        st.size = grown
        st.dirty = True
        return None

    def remove(self, st: ConnectionState, key: bytes) -> Err | bool:
        """``remove <key>``: False when there was no such key."""
        bad = self._writable(st)
        if bad is not None:
            return bad
        value = st.data.pop(key, None)
        if value is None:
            return False
        if st.size >= 0:
            st.size -= len(key) + len(value)
        st.dirty = True
        return True

    def put_all(self, st: ConnectionState, data: Pairs) -> Err | None:
        """``put_all``: replace every pair, within the limits."""
        bad = self._writable(st)
        if bad is not None:
            return bad
        size = check_pairs(self.limits, data)
        if isinstance(size, Err):
            return size
        st.data = data
        st.size = size
        st.dirty = True
        return None

    # -- whole sessions --------------------------------------------------------------------------

    def destroy(self, st: ConnectionState) -> Reply:
        """``destroy``: delete the open session (already gone is as good as destroyed)."""
        return self.run(self._destroy(st))

    async def _destroy(self, st: ConnectionState) -> Err | None:
        sid = st.sid
        assert sid is not None
        try:
            deleted = await self.strategy.delete(sid, self.now())
        except StorageError as exc:
            logger.error("destroying a session failed: %s", exc)
            return DESTROY_FAILED
        if deleted:
            self.counters.sessions_destroyed += 1
            self._wrote(st)
        self.abort(st)
        return None

    def regenerate(self, st: ConnectionState) -> Reply:
        """``regenerate_id``: move the session to a fresh id; the old one is gone at once."""
        bad = self._writable(st)
        if bad is not None:
            return bad
        return self.run(self._regenerate(st))

    async def _regenerate(self, st: ConnectionState) -> bytes | Err:
        old = st.sid
        assert old is not None
        for _ in range(3):
            new = generate_id()
            if await self.strategy.rename(old, new, self.now()):
                break
        else:
            return REGENERATE_FAILED
        self._wrote(st)
        self._unlock(st)  # waiters on the old id wake up to find it gone
        st.sid = new
        st.locked = new
        if not await self.strategy.take(st, new, self.now()):
            st.locked = None
            st.unbind()
            return LOCKED
        return new

    def get_ttl(self, st: ConnectionState) -> Reply:
        """``ttl``: whole seconds left."""
        return self.run(self._get_ttl(st.sid))

    async def _get_ttl(self, sid: bytes | None) -> int | Err:
        assert sid is not None
        left = await self.strategy.get_ttl(sid, self.now())
        return GONE if left is None else max(0, math.ceil(left))

    def set_ttl(self, st: ConnectionState, seconds: int) -> Reply:
        """``ttl <seconds>``: the session's own idle lifetime, from now."""
        return self.run(self._set_ttl(st, seconds))

    async def _set_ttl(self, st: ConnectionState, seconds: int) -> Err | None:
        assert st.sid is not None
        if not await self.strategy.set_ttl(st.sid, seconds, self.now()):
            return GONE
        self._wrote(st)
        return None

    # -- one command per request phase -----------------------------------------------------------

    def read(self, sid: bytes) -> Reply:
        """``read <id>``: ``open r`` + ``get_all`` + ``close``."""
        if not is_valid_id(sid):
            return OPEN_FAILED
        return self.run(self._read(sid))

    async def _read(self, sid: bytes) -> Pairs | Err:
        data = await self.strategy.read(sid, self.now())
        return OPEN_FAILED if data is None else data

    def write(
        self,
        st: ConnectionState,
        sid: bytes,
        changes: Pairs,
        removed: list[bytes],
        ttl: int | None,
    ) -> Reply:
        """``write <id> [ttl <s>] <changes>``: ``open w``, the changes, ``close``, atomically."""
        if not is_valid_id(sid):
            return OPEN_FAILED
        if st.locked == sid:
            return SESSION_OPEN_HERE
        return self.run(self._write(st, sid, changes, removed, ttl))

    async def _write(
        self,
        st: ConnectionState,
        sid: bytes,
        changes: Pairs,
        removed: list[bytes],
        ttl: int | None,
    ) -> Err | None:
        try:
            result = await self.strategy.write(
                st.oneshot,
                sid,
                changes,
                removed,
                self.now(),
                ttl=ttl,
                limits=self.limits,
                create=self.allow_client_ids,
            )
        except LockLost:
            return LOCK_LOST
        if result is True:
            self.counters.sessions_created += 1
        elif result is not None:
            return result  # type: ignore[return-value]
        self._wrote(st)
        return None

    def create(self, st: ConnectionState, data: Pairs, ttl: int | None) -> Reply:
        """``create [<s>] <pairs>``: a new session holding the pairs; its id."""
        bad = check_pairs(self.limits, data)
        if isinstance(bad, Err):
            return bad
        return self.run(self._create_reply(st, data, ttl))

    async def _create_reply(self, st: ConnectionState, data: Pairs, ttl: int | None) -> Any:
        sid = await self._create(data, ttl)
        if sid is None:
            return STORAGE_UNAVAILABLE
        self._wrote(st)
        return sid

    # -- administration --------------------------------------------------------------------------

    def peek(self, sid: bytes) -> Reply:
        """``peek <id>``: the pairs, not counted as an access."""
        if not is_valid_id(sid):
            return OPEN_FAILED
        return self.run(self._peek(sid, False))

    def expires(self, sid: bytes) -> Reply:
        """``expires <id>``: whole seconds left, not counted as an access."""
        if not is_valid_id(sid):
            return OPEN_FAILED
        return self.run(self._peek(sid, True))

    async def _peek(self, sid: bytes, left: bool) -> Any:
        found = await self.strategy.peek(sid, self.now())
        if found is None:
            return OPEN_FAILED
        return max(0, math.ceil(found[1])) if left else found[0]

    def sessions(self, cursor: int, count: int) -> Reply:
        """``sessions [cursor] [count]``: live ids, a page at a time."""
        return self.run(self._sessions(cursor, count))

    async def _sessions(self, cursor: int, count: int) -> list[bytes]:
        following, ids = await self.strategy.scan(cursor, count, self.now())
        return [b"%d" % following, *ids]

    def gc(self, st: ConnectionState, idle: int) -> Reply:
        """``gc <seconds>``: delete sessions idle longer than that; how many."""
        return self.run(self._gc(st, idle))

    async def _gc(self, st: ConnectionState, idle: int) -> int:
        removed = await self.strategy.gc(idle, self.now())
        self._wrote(st)
        return removed

    def user_sessions(self, user: bytes) -> Reply:
        """``user_sessions <user>``: the user's live sessions."""
        return self.run(self._user_sessions(user))

    async def _user_sessions(self, user: bytes) -> list[bytes]:
        # Expired sessions leave the index when they are reclaimed; until then, skip them here.
        strategy = self.strategy
        now = self.now()
        return [
            sid
            for sid in await strategy.user_sessions(user, now)
            if await strategy.get_ttl(sid, now)
        ]

    def destroy_user(self, st: ConnectionState, user: bytes, keep: bytes | None) -> Reply:
        """``destroy_user <user> [keep]``: "log out everywhere"; how many were destroyed."""
        return self.run(self._destroy_user(st, user, keep))

    async def _destroy_user(self, st: ConnectionState, user: bytes, keep: bytes | None) -> int:
        strategy = self.strategy
        destroyed = 0
        for sid in await strategy.user_sessions(user, self.now()):
            if sid != keep and await strategy.delete(sid, self.now()):
                destroyed += 1
        if destroyed:
            self.counters.sessions_destroyed += destroyed
            self._wrote(st)
        return destroyed

    async def count(self) -> int:
        """Live sessions."""
        return await self.strategy.count(self.now())

    async def stats(self) -> list[tuple[str, int | float | str]]:
        """Name/value pairs for the ``stats`` command, in a stable order."""
        strategy = self.strategy
        sessions = await strategy.count(self.now())
        c = self.counters
        locks = strategy.locks
        items: list[tuple[str, int | float | str]] = [
            ("uptime", int(time.time() - c.started_at)),
            ("storage", strategy.store.scheme),
            ("sessions", sessions),
            ("sessions_created", c.sessions_created),
            ("sessions_destroyed", c.sessions_destroyed),
            ("connections", c.connections),
            ("connections_total", c.connections_total),
            ("connections_rejected", c.connections_rejected),
            ("commands_total", c.commands),
            ("errors_total", c.errors),
        ]
        users = strategy.users_count()
        if users is not None:
            items.append(("users", users))
        items += [
            ("locks_held", len(locks)),
            ("lock_waiting", locks.waiting()),
            ("lock_waits_total", locks.waits_total),
            ("lock_timeouts_total", locks.timeouts_total),
            ("lock_leases_expired_total", locks.leases_expired_total),
            ("memory_rss", rss_bytes()),
            ("memory_rss_at_start", c.rss_at_start),
        ]
        items.extend(strategy.store.info().items())
        return items
