"""What each session command means: one handler per command.

A handler takes the connection's :class:`ConnectionState` and the request's parts
(``[name, arg, rest]`` in the text framing) and returns the reply value (see
``protocol.text.encode_reply``), or, when it has to wait for a lock or for storage, a future of
it.  Handlers never touch sockets, so they are tested with a plain container and no network.

The per-line path is kept lean on purpose (a bare Python line server is barely fast enough for
the speed targets): handlers that only touch the connection's working copy are plain functions,
and those that reach storage run as coroutines through :func:`eager`, which costs nothing extra
unless they really wait.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from .. import phpserialize
from ..ids import generate_id, is_valid_id
from ..protocol.replies import (
    AUTH_FAILED,
    CLOSE_FAILED,
    COMMIT_FAILED,
    DESTROY_FAILED,
    GONE,
    INVALID_ARGUMENT,
    INVALID_KEY,
    INVALID_MODE,
    LOCK_LOST,
    LOCKED,
    MALFORMED_SERIALIZED,
    MISSING_ARGUMENT,
    NESTED_ARRAY,
    NO_SUCH_KEY,
    OPEN_FAILED,
    READ_ONLY,
    REGENERATE_FAILED,
    SESSION_TOO_LARGE,
    STORAGE_UNAVAILABLE,
    STORE_FAILED,
    TOO_MANY_KEYS,
    VALUE_TOO_LARGE,
    Err,
    Raw,
)
from ..storage import LockLost, StorageError
from .compat import authenticate
from .locks import NOT_LOADED
from .state import (
    MAX_KEY_LENGTH,
    MODES,
    QUIT,
    READ,
    WRITE,
    ConnectionState,
    bad_key,
    seconds,
    size_of,
)
from .state import (
    now as _now,
)

logger = logging.getLogger(__name__)

# -- saving and closing -----------------------------------------------------------------------


def _settle(st: ConnectionState, close: bool, saved: bool | None) -> Err | None:
    """What follows a writer's save attempt: ``saved`` is True (saved), False (the session was
    destroyed or expired meanwhile) or None (the storage failed)."""
    if saved:
        st.wrote()
        st.dirty = False
        result = None
    elif saved is None:
        if not close:
            return COMMIT_FAILED  # keep the lock and the changes: the client may retry
        result = CLOSE_FAILED
    else:
        result = GONE
    st.unlock()
    if close or result is GONE:
        st.unbind()
    else:
        st.mode = READ
    return result


def _release(st: ConnectionState, close: bool) -> Err | None:
    """Close or commit without saving (nothing changed, or the lease was lost)."""
    result = LOCK_LOST if st.lost else None
    st.unlock()
    if close:
        st.unbind()
    else:
        st.mode = READ
        st.lost = False
    return result


async def _finish(st: ConnectionState, close: bool) -> Err | None:
    """Save a writer's changes and unlock; unbind if ``close``.  Shared by commit, close and
    the implicit close of ``open``/``new``."""
    if not st.dirty or st.lost:
        return _release(st, close)
    storage = st.storage
    saved: bool | None = None
    if storage.available:
        assert st.sid is not None
        try:
            saved = await storage.save(st.sid, st.data, _now())
        except LockLost:
            st.lost = True  # another daemon holds the lock now: nothing was saved
            return _release(st, close)
        except StorageError as exc:
            logger.error("saving a session failed: %s", exc)
    return _settle(st, close, saved)


def _finish_fast(st: ConnectionState, close: bool) -> Any:
    if not st.dirty or st.lost:
        return _release(st, close)
    storage = st.storage
    if not (storage.inline and storage.available):
        return st.run(_finish(st, close))
    if not storage.save_now(st.sid, st.data, _now()):  # type: ignore[arg-type]
        return _settle(st, close, False)
    # _settle(st, close, True), inlined: this is the end of every write request.
    if storage.write_behind:
        st.barrier = storage.barrier()
    st.dirty = False
    locked = st.locked
    if locked is not None:
        st.locks.release(locked, st)
        st.locked = None
    if close:
        st.unbind()
    else:
        st.mode = READ
    return None


def cmd_abort(st: ConnectionState, parts: list[Any]) -> Any:
    st.unlock()
    st.unbind()
    return None


def cmd_commit(st: ConnectionState, parts: list[Any]) -> Any:
    return _finish_fast(st, False)


def cmd_close(st: ConnectionState, parts: list[Any]) -> Any:
    return _finish_fast(st, True)


# -- opening ----------------------------------------------------------------------------------


def _bound(st: ConnectionState, sid: bytes, mode: int, data: dict[bytes, bytes]) -> None:
    # The storage may share the mapping it returned (memory://): a writer changes a copy.
    st.bind(sid, mode, data if mode == READ else dict(data))


async def _open(st: ConnectionState, sid: bytes, mode: int) -> Err | None:
    if st.sid is not None:
        await _finish(st, True)
    if not is_valid_id(sid):
        return OPEN_FAILED
    if mode == READ:
        data = await st.storage.load(sid, _now())
        if data is None:
            return OPEN_FAILED
        _bound(st, sid, READ, data)
        return None
    return await _open_write(st, sid, st.locks.acquire(sid, st, _now()))


async def _open_write(
    st: ConnectionState, sid: bytes, waiter: asyncio.Future[bool] | None
) -> Err | None:
    """Wait for the lock if ``waiter`` says so, then load the session for writing."""
    st.locked = sid
    if waiter is not None:
        try:
            granted = await waiter
        except BaseException:
            st.unlock()  # granted in the meantime, or not: release by ownership either way
            raise
        if not granted:
            st.locked = None
            return LOCKED
    storage = st.storage
    data = st.locks.take_loaded(sid, st)
    if data is NOT_LOADED:
        data = await storage.load(sid, _now())
    if data is None:
        if not (st.m.allow_client_ids and await storage.create(sid, {}, _now())):
            st.unlock()
            return OPEN_FAILED
        st.m.sessions_created += 1
        st.wrote()
        data = {}
    _bound(st, sid, WRITE, data)
    return None


def cmd_open(st: ConnectionState, parts: list[Any]) -> Any:
    if len(parts) > 2:
        mode = MODES.get(parts[2]) or MODES.get(parts[2].lower())
        if mode is None:
            return INVALID_MODE
    else:
        mode = WRITE
    sid = parts[1]
    storage = st.storage
    if not (storage.inline and st.sid is None):
        return st.run(_open(st, sid, mode))
    # The per-line fast path: the same steps as _open() without a coroutine.
    if not ((sid.isalnum() and 8 <= len(sid) <= 128) or is_valid_id(sid)):
        return OPEN_FAILED
    now = _now()
    if mode == READ:
        data = storage.load_now(sid, now)
        if data is None:
            return OPEN_FAILED
        st.sid = sid  # bind(), inlined
        st.mode = READ
        st.data = data
        st.table = st.tables.open
        return None
    waiter = st.locks.acquire(sid, st, now)
    if waiter is None:
        st.locked = sid
        data = storage.load_now(sid, now)
        if data is not None:
            st.sid = sid  # bind(), inlined
            st.mode = WRITE
            st.data = dict(data)
            st.table = st.tables.open
            return None
        if not st.m.allow_client_ids:
            st.unlock()
            return OPEN_FAILED
    return st.run(_open_write(st, sid, waiter))


async def _lock_fresh(st: ConnectionState, sid: bytes) -> bool:
    """Lock a session id nobody else knows yet: at once here; in a shared store, one round trip
    (False only if the store kept refusing for the whole lock timeout)."""
    st.locked = sid
    waiter = st.locks.acquire(sid, st, _now())
    if waiter is None:
        return True
    try:
        granted = await waiter
    except BaseException:
        st.unlock()
        raise
    if not granted:
        st.locked = None
    return granted


async def _new(st: ConnectionState) -> bytes | Err:
    if st.sid is not None:
        await _finish(st, True)
    storage = st.storage
    if not storage.available:
        return STORAGE_UNAVAILABLE
    for _ in range(8):
        sid = generate_id()
        if await storage.create(sid, {}, _now()):
            break
    else:  # 128 random bits do not collide: the storage is refusing writes
        return STORAGE_UNAVAILABLE
    st.m.sessions_created += 1
    st.wrote()
    if not await _lock_fresh(st, sid):
        return LOCKED
    st.bind(sid, WRITE, {})
    return sid


def cmd_new(st: ConnectionState, parts: list[Any]) -> Any:
    return st.run(_new(st))


# -- the working copy -------------------------------------------------------------------------


def cmd_put(st: ConnectionState, parts: list[Any]) -> Any:
    if st.mode != WRITE:
        return LOCK_LOST if st.lost else READ_ONLY
    if not st.storage.available:
        return STORE_FAILED  # it could not be saved: say so now rather than at close
    key = parts[1]
    value = parts[2]
    # bad_key(), inlined; an int membership test is a memchr, much faster than b"|" in key
    if not key or len(key) > MAX_KEY_LENGTH or 124 in key or 32 in key:
        return INVALID_KEY
    m = st.m
    if len(value) > m.max_value:
        return VALUE_TOO_LARGE
    data = st.data
    size = st.size
    if size < 0:
        size = size_of(data)
    old = data.get(key)
    if old is None:
        if len(data) >= m.max_keys:
            return TOO_MANY_KEYS
        size += len(key) + len(value)
    else:
        size += len(value) - len(old)
    if size > m.max_session:
        return SESSION_TOO_LARGE
    data[key] = value
    st.size = size
    st.dirty = True
    return None


def cmd_get(st: ConnectionState, parts: list[Any]) -> Any:
    value = st.data.get(parts[1])
    return NO_SUCH_KEY if value is None else value


def cmd_exists(st: ConnectionState, parts: list[Any]) -> Any:
    return None if parts[1] in st.data else NO_SUCH_KEY


def cmd_remove(st: ConnectionState, parts: list[Any]) -> Any:
    if st.mode != WRITE:
        return LOCK_LOST if st.lost else READ_ONLY
    value = st.data.pop(parts[1], None)
    if value is None:
        return NO_SUCH_KEY
    if st.size >= 0:
        st.size -= len(parts[1]) + len(value)
    st.dirty = True
    return None


def cmd_keys(st: ConnectionState, parts: list[Any]) -> Any:
    return list(st.data)


def cmd_get_all(st: ConnectionState, parts: list[Any]) -> Any:
    return st.data


def cmd_put_all(st: ConnectionState, parts: list[Any]) -> Any:
    if st.mode != WRITE:
        return LOCK_LOST if st.lost else READ_ONLY
    if st.resp:  # RESP2: put_all k1 v1 k2 v2 ... (none: an empty session)
        items = parts[1:]
        if len(items) % 2:
            return INVALID_ARGUMENT
        data = dict(zip(items[::2], items[1::2], strict=True))
    elif len(parts) < 2:
        return MISSING_ARGUMENT
    else:
        # The text framing split the payload at its first spaces; joining with single spaces
        # restores it exactly.
        payload = parts[1] if len(parts) == 2 else b" ".join(parts[1:])
        try:
            data = phpserialize.loads(payload)
        except phpserialize.NestedArrayError:
            return NESTED_ARRAY
        except phpserialize.SerializeError:
            return MALFORMED_SERIALIZED
    m = st.m
    if len(data) > m.max_keys:
        return TOO_MANY_KEYS
    for key, value in data.items():
        if bad_key(key):
            return INVALID_KEY
        if len(value) > m.max_value:
            return VALUE_TOO_LARGE
    size = size_of(data)
    if size > m.max_session:
        return SESSION_TOO_LARGE
    st.data = data
    st.size = size
    st.dirty = True
    return None


# -- whole-session operations -----------------------------------------------------------------


async def _destroy(st: ConnectionState) -> Err | None:
    sid = st.sid
    assert sid is not None
    if not st.storage.available:
        return DESTROY_FAILED
    try:
        deleted = await st.storage.delete(sid, _now())
    except StorageError as exc:
        logger.error("destroying a session failed: %s", exc)
        return DESTROY_FAILED
    if deleted:
        st.m.sessions_destroyed += 1
        st.wrote()
    st.unlock()
    st.unbind()
    return None  # already gone (destroyed elsewhere, expired) is as good as destroyed


def cmd_destroy(st: ConnectionState, parts: list[Any]) -> Any:
    return st.run(_destroy(st))


async def _regenerate(st: ConnectionState) -> bytes | Err:
    old = st.sid
    assert old is not None
    if not st.storage.available:
        return REGENERATE_FAILED
    for _ in range(3):
        new = generate_id()
        if await st.storage.rename(old, new, _now()):
            break
    else:
        return REGENERATE_FAILED
    st.wrote()
    st.unlock()  # waiters on the old id wake up to find it gone
    st.sid = new
    if not await _lock_fresh(st, new):
        st.unbind()
        return LOCKED
    return new


def cmd_regenerate_id(st: ConnectionState, parts: list[Any]) -> Any:
    if st.mode != WRITE:
        return LOCK_LOST if st.lost else READ_ONLY
    return st.run(_regenerate(st))


async def _ttl(st: ConnectionState, seconds: int | None) -> int | Err | None:
    sid = st.sid
    assert sid is not None
    if seconds is None:
        left = await st.storage.get_ttl(sid, _now())
        return GONE if left is None else max(0, math.ceil(left))
    if not st.storage.available:
        return STORAGE_UNAVAILABLE
    if not await st.storage.set_ttl(sid, seconds, _now()):
        return GONE
    st.wrote()
    return None


def cmd_ttl(st: ConnectionState, parts: list[Any]) -> Any:
    if len(parts) < 2:
        return st.run(_ttl(st, None))
    value = seconds(parts[1], 1)
    if value is None:
        return INVALID_ARGUMENT
    return st.run(_ttl(st, value))


async def _gc(st: ConnectionState, idle: int) -> int:
    removed = await st.storage.gc(idle, _now())
    st.wrote()
    return removed


def cmd_gc(st: ConnectionState, parts: list[Any]) -> Any:
    idle = seconds(parts[1], 0)
    if idle is None:
        return INVALID_ARGUMENT
    return st.run(_gc(st, idle))


# -- connection-level commands ----------------------------------------------------------------


def cmd_auth(st: ConnectionState, parts: list[Any]) -> Any:
    # ``auth <token>``, or Redis's ``AUTH <username> <password>`` (the username is ignored)
    return None if authenticate(st, parts[-1]) else AUTH_FAILED


_PONG = Raw(text=b"ok pong\r\n", resp=b"+PONG\r\n")  # what Redis clients expect


def cmd_ping(st: ConnectionState, parts: list[Any]) -> Any:
    return _PONG


def cmd_quit(st: ConnectionState, parts: list[Any]) -> Any:
    st.closing = True
    return QUIT


async def _stats(st: ConnectionState) -> bytes:
    sessions = await st.storage.count(_now())
    items = st.m.stats(sessions)
    return " ".join(f"{name}={value}" for name, value in items).encode()


def cmd_stats(st: ConnectionState, parts: list[Any]) -> Any:
    return st.run(_stats(st))
