"""One-shot commands: a whole request phase in one command, and the admin reads.

- ``read <id>``: ``open <id> r`` + ``get_all`` + ``close``, in one command.
- ``write <id> <changes>``: ``open <id> w`` + puts + removes + ``close``, atomically, in one
  command.  Text framing: PHP ``serialize()`` text whose ``null`` values mean "remove";
  RESP2: ``write <id> <n> k1 v1 ... kn vn [removed keys...]``.
- ``create <pairs>``: a new session holding the pairs; replies its id.  Text: PHP
  ``serialize()`` text; RESP2: ``create k1 v1 k2 v2 ...``.
- ``peek <id>``, ``expires <id>``: the session's pairs, its seconds left, without counting as
  an access (admin).
- ``sessions [cursor] [count]``: live session ids, a page at a time (admin).
- ``user_sessions <user>``, ``destroy_user <user> [keep_id]``: a user's sessions, and "log
  out everywhere" (see ``users.py``).

None of them touches the session the connection has open, if any.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from .. import phpserialize
from ..ids import generate_id, is_valid_id
from ..protocol.replies import (
    INVALID_ARGUMENT,
    INVALID_KEY,
    LOCK_LOST,
    LOCKED,
    MALFORMED_SERIALIZED,
    NESTED_ARRAY,
    OPEN_FAILED,
    SESSION_OPEN_HERE,
    SESSION_TOO_LARGE,
    STORAGE_UNAVAILABLE,
    STORE_FAILED,
    TOO_MANY_KEYS,
    VALUE_TOO_LARGE,
    Err,
)
from ..storage import LockLost, StorageError
from ..storage.base import APPLIED, APPLY_ABSENT, APPLY_TOO_LARGE, APPLY_TOO_MANY_KEYS
from .locks import NOT_LOADED
from .state import MAX_KEY_LENGTH, ConnectionState, now, seconds, size_of

__all__ = ["apply_changes", "parse_changes"]


def _pairs(items: list[bytes]) -> dict[bytes, bytes] | None:
    if len(items) % 2:
        return None
    return dict(zip(items[::2], items[1::2], strict=True))


def take_ttl(st: ConnectionState, parts: list[Any], first: int) -> Any:
    """The optional idle lifetime of a ``write`` (``ttl <seconds>`` before its changes) or a
    ``create`` (``<seconds>`` before its pairs), and the parts without it; or an :class:`Err`.

    ``write``'s changes start with a count (RESP) or PHP ``serialize()`` text, neither of
    which can be the word ``ttl``.  ``create``'s pairs come in twos (RESP) or as
    ``serialize()`` text, which never starts with a digit: an odd number of arguments, or a
    leading number, is the lifetime.
    """
    if st.resp:
        if first == 2:
            if len(parts) < 4 or parts[2].lower() != b"ttl":
                return None, parts
            ttl, rest = parts[3], parts[:2] + parts[4:]
        elif len(parts) % 2 == 0:  # create + an odd number of arguments
            ttl, rest = parts[1], parts[:1] + parts[2:]
        else:
            return None, parts
    else:
        words = b" ".join(parts[first:]).split(b" ", 2 if first == 2 else 1)
        if first == 2:
            if len(words) < 2 or words[0].lower() != b"ttl":
                return None, parts
            ttl, payload = words[1], words[2] if len(words) > 2 else b""
        elif words[0][:1].isdigit():
            ttl, payload = words[0], words[1] if len(words) > 1 else b""
        else:
            return None, parts
        rest = [*parts[:first], payload]
    value = seconds(ttl, 1)
    return INVALID_ARGUMENT if value is None else (value, rest)


def parse_changes(st: ConnectionState, parts: list[Any], first: int) -> Any:
    """The (changes, removed keys) of a ``write``/``create`` request from ``parts[first:]``,
    or an :class:`Err`."""
    if st.resp:
        if first == 2:  # write: a count of pairs, the pairs, then the keys to remove
            if len(parts) < 3 or not parts[2].isdigit():
                return INVALID_ARGUMENT
            n = int(parts[2])
            end = 3 + 2 * n
            if end > len(parts):
                return INVALID_ARGUMENT
            changes = _pairs(parts[3:end])
            return INVALID_ARGUMENT if changes is None else (changes, parts[end:])
        changes = _pairs(parts[first:])
        return INVALID_ARGUMENT if changes is None else (changes, [])
    payload = b" ".join(parts[first:])
    if not payload:
        return {}, []
    try:
        return phpserialize.loads_changes(payload)
    except phpserialize.NestedArrayError:
        return NESTED_ARRAY
    except phpserialize.SerializeError:
        return MALFORMED_SERIALIZED


def check_changes(st: ConnectionState, changes: dict[bytes, bytes]) -> Err | None:
    """The first bad key or too large value among ``changes``, if any."""
    if changes:
        # bad_key() for every key at once: joined by a space (itself forbidden), the keys
        # hold a space only where the join put one.
        joined = b" ".join(changes)
        if (
            124 in joined
            or 10 in joined
            or 13 in joined
            or joined.count(b" ") != len(changes) - 1
            or min(map(len, changes)) == 0
            or max(map(len, changes)) > MAX_KEY_LENGTH
        ):
            return INVALID_KEY
        if max(map(len, changes.values())) > st.m.max_value:
            return VALUE_TOO_LARGE
    return None


def apply_changes(
    st: ConnectionState,
    data: dict[bytes, bytes],
    changes: dict[bytes, bytes],
    removed: list[bytes],
) -> dict[bytes, bytes] | Err:
    """The session after the changes, or the limit they break (nothing is changed)."""
    m = st.m
    bad = check_changes(st, changes)
    if bad is not None:
        return bad
    result = dict(data)
    result.update(changes)
    for key in removed:
        result.pop(key, None)
    if len(result) > m.max_keys:
        return TOO_MANY_KEYS
    if size_of(result) > m.max_session:
        return SESSION_TOO_LARGE
    return result


# -- read -------------------------------------------------------------------------------------


async def _read(st: ConnectionState, sid: bytes) -> Any:
    data = await st.storage.load(sid, now())
    return OPEN_FAILED if data is None else data


def cmd_read(st: ConnectionState, parts: list[Any]) -> Any:
    sid = parts[1]
    if not is_valid_id(sid):
        return OPEN_FAILED
    storage = st.storage
    if storage.inline:
        data = storage.load_now(sid, now())
        return OPEN_FAILED if data is None else data
    return st.run(_read(st, sid))


# -- write ------------------------------------------------------------------------------------


async def _write(
    st: ConnectionState,
    sid: bytes,
    changes: dict[bytes, bytes],
    removed: list[bytes],
    waiter: asyncio.Future[bool] | None,
    ttl: int | None = None,
) -> Any:
    owner = st.oneshot
    locks = st.locks
    if waiter is not None:
        try:
            granted = await waiter
        except BaseException:
            locks.release(sid, owner)
            raise
        if not granted:
            return LOCKED
    try:
        storage = st.storage
        data = locks.take_loaded(sid, owner)
        if data is NOT_LOADED:
            data = await storage.load(sid, now())
        created = False
        if data is None:
            if not st.m.allow_client_ids:
                return OPEN_FAILED
            data, created = {}, True
        result = apply_changes(st, data, changes, removed)
        if result.__class__ is Err:
            return result
        assert isinstance(result, dict)
        try:
            if created:
                saved = await storage.create(sid, result, now())
            else:
                saved = await storage.save(sid, result, now())
        except LockLost:
            return LOCK_LOST
        except StorageError:
            return STORE_FAILED
        if not saved:
            return OPEN_FAILED
        if created:
            st.m.sessions_created += 1
        st.wrote()
        if ttl is not None:
            return await _set_ttl(st, sid, ttl)
        return None
    finally:
        locks.release(sid, owner)


async def _set_ttl(st: ConnectionState, sid: bytes, ttl: int) -> Any:
    try:
        if not await st.storage.set_ttl(sid, ttl, now()):
            return OPEN_FAILED
    except StorageError:
        return STORE_FAILED
    return None


def cmd_write(st: ConnectionState, parts: list[Any]) -> Any:
    sid = parts[1]
    if not is_valid_id(sid):
        return OPEN_FAILED
    if st.locked == sid:
        return SESSION_OPEN_HERE
    ttl = None
    if parts[2][:3].lower() == b"ttl":
        taken = take_ttl(st, parts, 2)
        if taken.__class__ is Err:
            return taken
        ttl, parts = taken
    parsed = parse_changes(st, parts, 2)
    if parsed.__class__ is Err:
        return parsed
    changes, removed = parsed
    storage = st.storage
    if not storage.available:
        return STORE_FAILED
    locks = st.locks
    if ttl is not None:
        if storage.shared:
            return st.run(_write_shared(st, sid, changes, removed, ttl))
        return st.run(_write(st, sid, changes, removed, locks.acquire(sid, st.oneshot, now()), ttl))
    if storage.inline and not locks.held(sid):
        # The per-request fast path.  Nothing can come between these lines on the event loop,
        # so while nobody holds the lock there is no need to take it: check and go.
        now_ = now()
        data = storage.load_now(sid, now_)
        if data is not None:
            result = apply_changes(st, data, changes, removed)
            if result.__class__ is Err:
                return result
            if not storage.save_now(sid, result, now_):  # type: ignore[arg-type]
                return OPEN_FAILED
            st.wrote()
            return None
        # an unknown id: the general path decides (it may create it)
    if storage.shared:
        return st.run(_write_shared(st, sid, changes, removed))
    return st.run(_write(st, sid, changes, removed, locks.acquire(sid, st.oneshot, now())))


_APPLY_ERRORS = {APPLY_TOO_MANY_KEYS: TOO_MANY_KEYS, APPLY_TOO_LARGE: SESSION_TOO_LARGE}


async def _write_shared(
    st: ConnectionState,
    sid: bytes,
    changes: dict[bytes, bytes],
    removed: list[bytes],
    ttl: int | None = None,
) -> Any:
    """A shared store may apply the write in one step while nobody holds the lock (one round
    trip instead of four: lock, load, save, unlock); else the lock is queued for."""
    bad = check_changes(st, changes)
    if bad is not None:
        return bad
    locks = st.locks
    if not locks.held(sid):
        m = st.m
        code = await st.storage.apply(
            sid,
            changes,
            removed,
            max_keys=m.max_keys,
            max_session=m.max_session,
            token=locks.idle_token(sid),
            now=now(),
        )
        if code == APPLIED:
            st.wrote()
            return None if ttl is None else await _set_ttl(st, sid, ttl)
        if code in _APPLY_ERRORS:
            return _APPLY_ERRORS[code]
        if code == APPLY_ABSENT and not m.allow_client_ids:
            return OPEN_FAILED
    return await _write(st, sid, changes, removed, locks.acquire(sid, st.oneshot, now()), ttl)


# -- create -----------------------------------------------------------------------------------


async def _create(st: ConnectionState, data: dict[bytes, bytes], ttl: int | None) -> Any:
    storage = st.storage
    for _ in range(8):
        sid = generate_id()
        if await storage.create(sid, data, now()):
            st.m.sessions_created += 1
            st.wrote()
            if ttl is not None:
                bad = await _set_ttl(st, sid, ttl)
                if bad is not None:
                    return bad
            return sid
    return STORAGE_UNAVAILABLE


def cmd_create(st: ConnectionState, parts: list[Any]) -> Any:
    taken = take_ttl(st, parts, 1) if len(parts) > 1 else (None, parts)
    if taken.__class__ is Err:
        return taken
    ttl, parts = taken
    parsed = parse_changes(st, parts, 1)
    if parsed.__class__ is Err:
        return parsed
    changes, _ = parsed
    data = apply_changes(st, {}, changes, [])
    if data.__class__ is Err:
        return data
    if not st.storage.available:
        return STORAGE_UNAVAILABLE
    return st.run(_create(st, data, ttl))  # type: ignore[arg-type]


# -- admin ------------------------------------------------------------------------------------


async def _peek(st: ConnectionState, sid: bytes, what: int) -> Any:
    found = await st.storage.peek(sid, now())
    if found is None:
        return OPEN_FAILED
    data, left = found
    return data if what == _PAIRS else max(0, math.ceil(left))


_PAIRS, _LEFT = 0, 1


def cmd_peek(st: ConnectionState, parts: list[Any]) -> Any:
    sid = parts[1]
    if not is_valid_id(sid):
        return OPEN_FAILED
    return st.run(_peek(st, sid, _PAIRS))


def cmd_expires(st: ConnectionState, parts: list[Any]) -> Any:
    sid = parts[1]
    if not is_valid_id(sid):
        return OPEN_FAILED
    return st.run(_peek(st, sid, _LEFT))


async def _sessions(st: ConnectionState, cursor: int, count: int) -> Any:
    following, ids = await st.storage.scan(cursor, count, now())
    return [b"%d" % following, *ids]


def cmd_sessions(st: ConnectionState, parts: list[Any]) -> Any:
    cursor, count = 0, 100
    try:
        if len(parts) > 1:
            cursor = int(parts[1])
        if len(parts) > 2:
            count = int(parts[2])
    except ValueError:
        return INVALID_ARGUMENT
    if cursor < 0 or not 1 <= count <= 10_000:
        return INVALID_ARGUMENT
    return st.run(_sessions(st, cursor, count))


# -- users ------------------------------------------------------------------------------------


async def _user_sessions(st: ConnectionState, user: bytes) -> Any:
    # Expired sessions leave the index when they are reclaimed; until then, skip them here.
    storage = st.storage
    return [sid for sid in await st.m.user_sessions(user) if await storage.get_ttl(sid, now())]


def cmd_user_sessions(st: ConnectionState, parts: list[Any]) -> Any:
    return st.run(_user_sessions(st, parts[1]))


async def _destroy_user(st: ConnectionState, user: bytes, keep: bytes | None) -> Any:
    destroyed = 0
    for sid in await st.m.user_sessions(user):
        if sid != keep and await st.storage.delete(sid, now()):
            destroyed += 1
    if destroyed:
        st.m.sessions_destroyed += destroyed
        st.wrote()
    return destroyed


def cmd_destroy_user(st: ConnectionState, parts: list[Any]) -> Any:
    if not st.storage.available:
        return STORAGE_UNAVAILABLE
    return st.run(_destroy_user(st, parts[1], parts[2] if len(parts) > 2 else None))
