"""The session manager: the one place that knows what each session command means.

Modes, locks, commit, expiry, ids, limits and the user index are decided here and nowhere else;
command handlers (``dispatcher.py``) only parse arguments and call a method below.  The manager
reaches its store only through its :mod:`strategy`, chosen when the daemon starts, so no
method asks what the store can do.

Public methods return the reply value, or a future of it when a store call has to wait.  The
steps of the per-request commands (``open``, ``close``, ``commit``, ``read``, ``write``) are
chained with :func:`~..eager.then`, which costs a plain call on a store that answers at once;
the rarer commands are coroutines run by the strategy (inline until they wait).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any, NoReturn

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
    TOO_MANY_SESSIONS,
    Err,
    Timed,
)
from ...storage import LockLost, StorageError
from ..eager import Future, resolve, then
from .admin import Admin
from .counters import Counters
from .limits import Limits, SessionCap, check_pairs, check_put, size_of
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
        max_sessions: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.strategy = strategy
        self.run = strategy.run
        self.limits = limits
        self.counters = counters
        self.allow_client_ids = allow_client_ids
        self.now = clock
        self._barrier = strategy.barrier
        #: The administration commands, which need the admin role.
        self.admin = Admin(self)
        self.cap = SessionCap(max_sessions, lambda: counters.sessions_created)

    def wrote(self, st: ConnectionState) -> None:
        # Replies to a write wait for the store's durability barrier, where it has one.
        st.barrier = self._barrier()

    def _unlock(self, st: ConnectionState) -> None:
        if st.locked is not None:
            self.strategy.unlock(st, st.locked)
            st.locked = None

    # -- open ------------------------------------------------------------------------------------

    def open(self, st: ConnectionState, sid: bytes, mode: int) -> Reply:
        """``open <id> [mode]``: a reader sees the last committed state and never waits; a
        writer takes the session's lock, in arrival order."""
        if st.sid is not None:  # the session open before is closed first, changes saved
            return then(self.finish(st, True), lambda _: self.open(st, sid, mode))
        if not is_valid_id(sid):
            return OPEN_FAILED
        now = self.now()
        # Each step is written once; ``then`` only where the store makes it wait.
        if mode == READ:
            data = self.strategy.read(sid, now)
            if isinstance(data, Future):
                return then(data, partial(self._opened_read, st, sid))
            return self._opened_read(st, sid, data)
        st.locked = sid  # from now on a disconnect releases it, granted or still queued
        try:
            locked = self.strategy.lock(st, sid, now)
        except Exception as exc:
            self._lock_failed(st, sid, exc)
        if isinstance(locked, Future):
            opened = partial(self._opened_write, st, sid)
            return then(locked, opened, partial(self._lock_failed, st, sid))
        return self._opened_write(st, sid, locked)

    @staticmethod
    def _let_go(st: ConnectionState, sid: bytes) -> None:
        """``st`` could not lock ``sid``: it holds neither the lock nor the session."""
        st.locked = None
        if st.sid == sid:
            st.unbind()

    def _lock_failed(self, st: ConnectionState, sid: bytes, exc: BaseException) -> NoReturn:
        """A lock attempt raised (the store failed; not a cancellation, whose disconnect releases
        it): the strategy let go of what it took, and so does the connection."""
        self._let_go(st, sid)
        raise exc

    @staticmethod
    def _opened_read(st: ConnectionState, sid: bytes, data: Pairs | None) -> Err | None:
        if data is None:
            return OPEN_FAILED
        st.bind(sid, READ, data)  # the store's own mapping: a reader never changes it
        return None

    def _opened_write(self, st: ConnectionState, sid: bytes, data: Pairs | Err | None) -> Any:
        if data is None:
            return self.run(self._create_locked(st, sid))
        if isinstance(data, Err):
            st.locked = None
            return data
        st.bind(sid, WRITE, dict(data))  # the working copy
        return None

    async def _create_locked(self, st: ConnectionState, sid: bytes) -> Err | None:
        """``open <id> w`` of an unknown id: created only where client-chosen ids are allowed."""
        try:
            created = self.allow_client_ids and await resolve(
                self.strategy.create(sid, {}, self.now(), None)
            )
        except BaseException:
            self._unlock(st)
            raise
        if not created:
            self._unlock(st)
            return OPEN_FAILED
        self.counters.sessions_created += 1
        self.wrote(st)
        st.bind(sid, WRITE, {})
        return None

    # -- commit, close, abort --------------------------------------------------------------------

    def finish(self, st: ConnectionState, close: bool) -> Reply:
        """``close`` (``close`` True): save, unlock and close the session; ``commit``: save,
        unlock, keep the session open read-only."""
        if not st.dirty or st.lost:
            return self._release(st, close)
        sid = st.sid
        assert sid is not None
        try:
            saved = self.strategy.save(st, sid, st.data, self.now(), None)
        except Exception as exc:
            return self._save_failed(st, close, exc)
        if isinstance(saved, Future):
            return then(
                saved, partial(self._saved, st, close), partial(self._save_failed, st, close)
            )
        return self._saved(st, close, saved)

    def _release(self, st: ConnectionState, close: bool) -> Err | None:
        """Close or commit without saving (nothing changed, or the lease was lost)."""
        result = LOCK_LOST if st.lost else None
        if st.locked is not None:
            self._unlock(st)
        if close:
            st.unbind()
        else:
            st.mode = READ
            st.lost = False
        return result

    def _saved(self, st: ConnectionState, close: bool, saved: bool) -> Err | None:
        st.locked = None  # the strategy released it with the save
        if not saved:
            st.unbind()
            return GONE
        self.wrote(st)
        st.dirty = False
        if close:
            st.unbind()
        else:
            st.mode = READ
        return None

    def _save_failed(self, st: ConnectionState, close: bool, exc: BaseException) -> Err | None:
        if isinstance(exc, LockLost):
            st.lost = True  # another daemon holds the lock now: nothing was saved
            return self._release(st, close)
        if not isinstance(exc, StorageError):
            raise exc
        logger.error("saving a session failed: %s", exc)
        if not close:
            return COMMIT_FAILED  # keep the lock and the changes: the client may retry
        self._unlock(st)
        st.unbind()
        return CLOSE_FAILED

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

    # -- one command per request phase -----------------------------------------------------------

    def read(self, sid: bytes, *, with_ttl: bool = False) -> Reply:
        """``read <id> [withttl]``: ``open r`` + ``get_all`` + ``close``; with ``withttl``,
        the seconds the session has left too (after this access: its idle lifetime)."""
        if not is_valid_id(sid):
            return OPEN_FAILED
        now = self.now()
        data = self.strategy.read(sid, now)
        if with_ttl:
            return then(data, partial(self._timed, sid, now))
        if isinstance(data, Future):
            return then(data, _pairs_or_failed)
        return OPEN_FAILED if data is None else data

    def _timed(self, sid: bytes, now: float, value: Any) -> Reply:
        """The reply ``value`` with the session's seconds left (a ``withttl`` flag)."""
        if value is None or isinstance(value, Err):
            return OPEN_FAILED if value is None else value
        pairs = None if value is _WRITTEN else value
        return then(self.strategy.get_ttl(sid, now), lambda left: _with_left(left, pairs))

    def write(
        self,
        st: ConnectionState,
        sid: bytes,
        changes: Pairs,
        removed: list[bytes],
        ttl: int | None,
        *,
        with_ttl: bool = False,
    ) -> Reply:
        """``write <id> [ttl <s>] [withttl] <changes>``: ``open w``, the changes, ``close``,
        atomically; with ``withttl``, the reply is the session's seconds left."""
        if not is_valid_id(sid):
            return OPEN_FAILED
        if st.locked == sid:
            return SESSION_OPEN_HERE
        try:
            result = self.strategy.write(
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
        if with_ttl:
            now = self.now()
            done = then(result, partial(self._written, st), _lock_lost)
            return then(done, lambda bad: self._timed(sid, now, bad or _WRITTEN))
        if isinstance(result, Future):
            return then(result, partial(self._written, st), _lock_lost)
        return self._written(st, result)

    def _written(self, st: ConnectionState, result: Err | bool | None) -> Err | None:
        if result is True:
            self.counters.sessions_created += 1
        elif result is not None:
            return result  # type: ignore[return-value]
        self.wrote(st)
        return None

    def create(self, st: ConnectionState, data: Pairs, ttl: int | None) -> Reply:
        """``create [<s>] <pairs>``: a new session holding the pairs; its id."""
        bad = check_pairs(self.limits, data)
        if isinstance(bad, Err):
            return bad
        if self.cap.full():
            return TOO_MANY_SESSIONS
        return self.run(self._create_reply(st, data, ttl))

    async def _create_reply(self, st: ConnectionState, data: Pairs, ttl: int | None) -> Any:
        sid = await self._create(data, ttl)
        if sid is None:
            return STORAGE_UNAVAILABLE
        self.wrote(st)
        return sid

    async def _create(self, data: Pairs, ttl: int | None) -> bytes | None:
        for _ in range(8):
            sid = generate_id()
            if await resolve(self.strategy.create(sid, data, self.now(), ttl)):
                self.counters.sessions_created += 1
                return sid
        return None  # 128 random bits do not collide: the store is refusing writes

    # -- new, destroy, regenerate, ttl -----------------------------------------------------------

    def new(self, st: ConnectionState) -> Reply:
        """``new``: a fresh session, open for writing; its id."""
        if self.cap.full():
            return TOO_MANY_SESSIONS
        return self.run(self._new(st))

    async def _new(self, st: ConnectionState) -> bytes | Err:
        if st.sid is not None:
            await resolve(self.finish(st, True))
        sid = await self._create({}, None)
        if sid is None:
            return STORAGE_UNAVAILABLE
        self.wrote(st)
        if not await self._take(st, sid):
            return LOCKED
        st.bind(sid, WRITE, {})
        return sid

    async def _take(self, st: ConnectionState, sid: bytes) -> bool:
        """Take the lock of a session this connection just made or renamed; False: timed out."""
        st.locked = sid
        try:
            taken = await resolve(self.strategy.take(st, sid, self.now()))
        except Exception as exc:
            self._lock_failed(st, sid, exc)
        if not taken:
            self._let_go(st, sid)
        return bool(taken)

    def destroy(self, st: ConnectionState) -> Reply:
        """``destroy``: delete the open session (already gone is as good as destroyed)."""
        return self.run(self._destroy(st))

    async def _destroy(self, st: ConnectionState) -> Err | None:
        sid = st.sid
        assert sid is not None
        try:
            deleted = await resolve(self.strategy.delete(sid, self.now()))
        except StorageError as exc:
            logger.error("destroying a session failed: %s", exc)
            return DESTROY_FAILED
        if deleted:
            self.counters.sessions_destroyed += 1
            self.wrote(st)
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
            if await resolve(self.strategy.rename(old, new, self.now())):
                break
        else:
            return REGENERATE_FAILED
        self.wrote(st)
        self._unlock(st)  # waiters on the old id wake up to find it gone
        st.sid = new
        return new if await self._take(st, new) else LOCKED

    def get_ttl(self, st: ConnectionState) -> Reply:
        """``ttl``: whole seconds left."""
        assert st.sid is not None
        return then(self.strategy.get_ttl(st.sid, self.now()), _seconds_or_gone)

    def set_ttl(self, st: ConnectionState, seconds: int) -> Reply:
        """``ttl <seconds>``: the session's own idle lifetime, from now."""
        assert st.sid is not None
        return then(self.strategy.set_ttl(st.sid, seconds, self.now()), partial(self._ttl_set, st))

    def _ttl_set(self, st: ConnectionState, done: bool) -> Err | None:
        if not done:
            return GONE
        self.wrote(st)
        return None

    # -- log out everywhere ------------------------------------------------------------------

    def user_sessions(self, user: bytes) -> Reply:
        """``user_sessions <user>``: the user's live sessions."""
        return self.run(self._user_sessions(user))

    async def _user_sessions(self, user: bytes) -> list[bytes]:
        # Expired sessions leave the index when they are reclaimed; until then, skip them here.
        strategy = self.strategy
        now = self.now()
        found = await resolve(strategy.user_sessions(user, now))
        return [sid for sid in found if await resolve(strategy.get_ttl(sid, now))]

    def destroy_user(self, st: ConnectionState, user: bytes, keep: bytes | None) -> Reply:
        """``destroy_user <user> [keep]``: "log out everywhere"; how many were destroyed."""
        return self.run(self._destroy_user(st, user, keep))

    async def _destroy_user(self, st: ConnectionState, user: bytes, keep: bytes | None) -> int:
        strategy = self.strategy
        destroyed = 0
        for sid in await resolve(strategy.user_sessions(user, self.now())):
            if sid != keep and await resolve(strategy.delete(sid, self.now())):
                destroyed += 1
        if destroyed:
            self.counters.sessions_destroyed += destroyed
            self.wrote(st)
        return destroyed


#: What ``_timed`` is given for a write that succeeded (it has no value of its own).
_WRITTEN: Any = object()


def _with_left(left: float | None, pairs: Pairs | None) -> Timed | Err:
    return GONE if left is None else Timed(max(0, math.ceil(left)), pairs)


def _pairs_or_failed(data: Pairs | None) -> Pairs | Err:
    return OPEN_FAILED if data is None else data


def _lock_lost(exc: BaseException) -> Err:
    if isinstance(exc, LockLost):
        return LOCK_LOST
    raise exc


def _seconds_or_gone(left: float | None) -> int | Err:
    return GONE if left is None else max(0, math.ceil(left))
