"""The command handlers: parse a request's arguments, ask the session manager, reply.

A handler takes the connection's :class:`ConnectionState` and the request's parts
(``[name, arg, rest]`` in the text framing, every argument in RESP2) and returns the reply
value (see ``protocol.text.encode_reply``) or a future of it.  What a command means lives in the
manager; handlers never touch storage or locks, so they are tested with a plain container and
no network.  ``tables.py`` builds the per-state command tables from ``cmd_<name>`` here.
"""

from __future__ import annotations

from typing import Any

from .. import phpserialize
from ..protocol.replies import (
    AUTH_FAILED,
    INVALID_ARGUMENT,
    INVALID_MODE,
    MALFORMED_SERIALIZED,
    MISSING_ARGUMENT,
    NESTED_ARRAY,
    NO_SUCH_KEY,
    Err,
    Raw,
)
from .compat import authenticate
from .sessions.limits import seconds
from .sessions.state import MODES, QUIT, WRITE, ConnectionState

Parts = list[bytes]
Reply = Any

# -- opening and closing ----------------------------------------------------------------------


def cmd_new(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.new(st)


def cmd_open(st: ConnectionState, parts: Parts) -> Reply:
    if len(parts) > 2:
        mode = MODES.get(parts[2]) or MODES.get(parts[2].lower())
        if mode is None:
            return INVALID_MODE
    else:
        mode = WRITE
    return st.m.open(st, parts[1], mode)


def cmd_commit(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.finish(st, False)


def cmd_close(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.finish(st, True)


def cmd_abort(st: ConnectionState, parts: Parts) -> Reply:
    st.m.abort(st)


def cmd_destroy(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.destroy(st)


def cmd_regenerate_id(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.regenerate(st)


def cmd_ttl(st: ConnectionState, parts: Parts) -> Reply:
    if len(parts) < 2:
        return st.m.get_ttl(st)
    value = seconds(parts[1], 1)
    return INVALID_ARGUMENT if value is None else st.m.set_ttl(st, value)


# -- the working copy -------------------------------------------------------------------------


def cmd_put(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.put(st, parts[1], parts[2])


def cmd_get(st: ConnectionState, parts: Parts) -> Reply:
    value = st.data.get(parts[1])
    return NO_SUCH_KEY if value is None else value


def cmd_exists(st: ConnectionState, parts: Parts) -> Reply:
    return None if parts[1] in st.data else NO_SUCH_KEY


def cmd_remove(st: ConnectionState, parts: Parts) -> Reply:
    removed = st.m.remove(st, parts[1])
    if removed is True:
        return None
    return NO_SUCH_KEY if removed is False else removed


def cmd_keys(st: ConnectionState, parts: Parts) -> Reply:
    return list(st.data)


def cmd_get_all(st: ConnectionState, parts: Parts) -> Reply:
    return st.data


def cmd_put_all(st: ConnectionState, parts: Parts) -> Reply:
    if st.resp:  # RESP2: put_all k1 v1 k2 v2 ... (none: an empty session)
        data = _pairs(parts[1:])
        if data is None:
            return INVALID_ARGUMENT
    elif len(parts) < 2:
        return MISSING_ARGUMENT
    else:
        # The text framing split the payload at its first spaces; joining with single spaces
        # restores it exactly.
        data = _serialized(b" ".join(parts[1:]), phpserialize.loads)
        if data.__class__ is Err:
            return data
    return st.m.put_all(st, data)


# -- one command per request phase ------------------------------------------------------------


def cmd_read(st: ConnectionState, parts: Parts) -> Reply:
    if len(parts) > 2:
        if parts[2].lower() != WITHTTL:
            return INVALID_ARGUMENT
        return st.m.read(parts[1], with_ttl=True)
    return st.m.read(parts[1])


#: The flag of ``read`` and ``write`` that asks for the session's seconds left in the reply.
WITHTTL = b"withttl"


def cmd_write(st: ConnectionState, parts: Parts) -> Reply:
    ttl = None
    if parts[2][:3].lower() == b"ttl":
        taken = _take_ttl(st, parts, 2)
        if taken.__class__ is Err:
            return taken
        ttl, parts = taken
    with_ttl = False
    if parts[2][:7].lower() == WITHTTL:
        with_ttl, parts = _take_flag(st, parts)
    parsed = _changes(st, parts, 2)
    if parsed.__class__ is Err:
        return parsed
    changes, removed = parsed
    return st.m.write(st, parts[1], changes, removed, ttl, with_ttl=with_ttl)


def cmd_create(st: ConnectionState, parts: Parts) -> Reply:
    taken = _take_ttl(st, parts, 1) if len(parts) > 1 else (None, parts)
    if taken.__class__ is Err:
        return taken
    ttl, parts = taken
    parsed = _changes(st, parts, 1)
    if parsed.__class__ is Err:
        return parsed
    return st.m.create(st, parsed[0], ttl)


def _pairs(items: list[bytes]) -> dict[bytes, bytes] | None:
    if len(items) % 2:
        return None
    return dict(zip(items[::2], items[1::2], strict=True))


def _serialized(payload: bytes, parse: Any) -> Any:
    try:
        return parse(payload)
    except phpserialize.NestedArrayError:
        return NESTED_ARRAY
    except phpserialize.SerializeError:
        return MALFORMED_SERIALIZED


def _take_ttl(st: ConnectionState, parts: Parts, first: int) -> Any:
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


def _take_flag(st: ConnectionState, parts: Parts) -> tuple[bool, Parts]:
    """``write``'s ``withttl`` flag, and the parts without it."""
    if st.resp:
        return (True, [*parts[:2], *parts[3:]]) if parts[2].lower() == WITHTTL else (False, parts)
    flag, _, payload = b" ".join(parts[2:]).partition(b" ")
    return (True, [*parts[:2], payload]) if flag.lower() == WITHTTL else (False, parts)


def _changes(st: ConnectionState, parts: Parts, first: int) -> Any:
    """The (changes, removed keys) of a ``write``/``create`` from ``parts[first:]``, or an
    :class:`Err`.  Text: PHP ``serialize()`` text whose ``null`` values mean "remove"; RESP2:
    ``write <id> <n> k1 v1 ... kn vn [removed keys...]``, ``create k1 v1 ...``."""
    if st.resp:
        if first == 2:
            if len(parts) < 3 or not parts[2].isdigit():
                return INVALID_ARGUMENT
            end = 3 + 2 * int(parts[2])
            if end > len(parts):
                return INVALID_ARGUMENT
            changes = _pairs(parts[3:end])
            return INVALID_ARGUMENT if changes is None else (changes, parts[end:])
        changes = _pairs(parts[first:])
        return INVALID_ARGUMENT if changes is None else (changes, [])
    payload = b" ".join(parts[first:])
    if not payload:
        return {}, []
    return _serialized(payload, phpserialize.loads_changes)


# -- administration ---------------------------------------------------------------------------


def cmd_peek(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.admin.peek(parts[1])


def cmd_expires(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.admin.expires(parts[1])


def cmd_sessions(st: ConnectionState, parts: Parts) -> Reply:
    cursor, count = 0, 100
    try:
        if len(parts) > 1:
            cursor = int(parts[1])
        if len(parts) > 2:
            count = int(parts[2])
    except ValueError:
        return INVALID_ARGUMENT
    # A cursor is a position the storage hands back: a signed 64-bit number at most.
    if not 0 <= cursor < 1 << 63 or not 1 <= count <= 10_000:
        return INVALID_ARGUMENT
    return st.m.admin.sessions(cursor, count)


def cmd_gc(st: ConnectionState, parts: Parts) -> Reply:
    idle = seconds(parts[1], 0)
    return INVALID_ARGUMENT if idle is None else st.m.admin.gc(st, idle)


def cmd_backup(st: ConnectionState, parts: Parts) -> Reply:
    if st.resp:
        return INVALID_ARGUMENT if len(parts) > 2 else st.run(st.m.admin.backup(parts[1]))
    # The text framing split the path at its first spaces; joining restores it exactly.
    return st.run(st.m.admin.backup(b" ".join(parts[1:])))


def cmd_user_sessions(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.user_sessions(parts[1])


def cmd_destroy_user(st: ConnectionState, parts: Parts) -> Reply:
    return st.m.destroy_user(st, parts[1], parts[2] if len(parts) > 2 else None)


def cmd_stats(st: ConnectionState, parts: Parts) -> Reply:
    return st.run(_stats(st))


async def _stats(st: ConnectionState) -> bytes:
    return " ".join(f"{name}={value}" for name, value in await st.m.admin.stats()).encode()


# -- connection-level commands ----------------------------------------------------------------


def cmd_auth(st: ConnectionState, parts: Parts) -> Reply:
    # ``auth <token>``, or Redis's ``AUTH <username> <password>`` (the username is ignored)
    return None if authenticate(st, parts[-1]) else AUTH_FAILED


_PONG = Raw(text=b"ok pong\r\n", resp=b"+PONG\r\n")  # what Redis clients expect


def cmd_ping(st: ConnectionState, parts: Parts) -> Reply:
    return _PONG


def cmd_quit(st: ConnectionState, parts: Parts) -> Reply:
    st.closing = True
    return QUIT
