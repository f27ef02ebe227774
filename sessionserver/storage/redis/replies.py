"""What the Redis container sends as arguments and what its scripts' replies mean.

The conversions run as each reply is read (see ``RedisConnection.run``): a read's or a lock's
pair of replies (the access script's verdict and the plain ``HGETALL`` after it) becomes the
session's pairs, a save's reply its outcome or :class:`LockLost`.
"""

from __future__ import annotations

from typing import Any

from ..base import LockLost

__all__ = [
    "as_bytes",
    "code",
    "flat",
    "loaded",
    "locked",
    "pairs",
    "saved",
    "saved_user",
    "ttl_arg",
]

Pairs = dict[bytes, bytes]

#: The fields of a session's hash that are not its pairs (see the container's docstring).
META = (b" c", b" a", b" t", b" u")


def as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def pairs(flat: list[bytes]) -> Pairs:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def flat(data: Pairs) -> list[bytes]:
    out: list[bytes] = []
    for key, value in data.items():
        out.append(key)
        out.append(value)
    return out


def ttl_arg(ttl: int | None) -> bytes:
    """A session's own idle lifetime as a script argument (empty: keep the one it has)."""
    return b"" if ttl is None else str(ttl).encode()


def _session(whole: list[bytes] | Pairs) -> Pairs | None:
    """The pairs of a session's whole hash (``HGETALL``: flat from hiredis, a dict from
    redis-py's cluster client); None if there is none."""
    if not whole:
        return None
    data = dict(whole) if isinstance(whole, dict) else pairs(whole)
    for field in META:
        data.pop(field, None)
    return data


def loaded(replies: tuple[int, list[bytes]]) -> Pairs | None:
    """An access (``touch``) and the ``HGETALL`` after it."""
    live, whole = replies
    return _session(whole) if live else None


def locked(replies: tuple[int, list[bytes]]) -> tuple[bool, Pairs | None]:
    """A lock with its access (``lock_touch``) and the ``HGETALL`` after it."""
    taken, whole = replies
    return taken != 0, (_session(whole) if taken == 2 else None)


def saved_user(result: list[Any]) -> bytes | None:
    """The user the saved session named before (b"" for none); None if it was absent."""
    if result[0] == -1:
        raise LockLost("the session's lock changed hands")
    return None if result[0] == 0 else as_bytes(result[1])


def saved(result: list[Any]) -> bool:
    return saved_user(result) is not None


def code(result: list[Any]) -> int:
    return int(result[0])
