"""What a session may hold: the key rule and the size limits, for every path.

Pure functions over plain dicts, called by every command that changes a session (``put``,
``put_all``, ``write``, ``create``, in both framings), so that a limit or the key rule can
never differ between two ways of asking for the same change.  Nothing here reads a clock,
touches storage or knows about connections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ...protocol.replies import INVALID_KEY, SESSION_TOO_LARGE, TOO_MANY_KEYS, VALUE_TOO_LARGE, Err

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_TTL",
    "Limits",
    "SessionCap",
    "apply_changes",
    "bad_key",
    "check_changes",
    "check_pairs",
    "check_put",
    "seconds",
    "size_of",
]

MAX_KEY_LENGTH: Final = 1024
#: The longest idle lifetime a session may be given, in seconds (ten years).
MAX_TTL: Final = 10 * 365 * 86400

Pairs = dict[bytes, bytes]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    """The operator's limits (``--max-value``, ``--max-keys``, ``--max-session``)."""

    max_value: int = 1024 * 1024
    max_keys: int = 1000
    max_session: int = 4 * 1024 * 1024


def bad_key(key: bytes) -> bool:
    """Keys are 1 to 1024 bytes without space, ``|``, CR or LF: what ``keys`` can list and a
    text line can carry.  (An int membership test is a memchr, much faster than ``b"|" in``.)"""
    return not key or len(key) > MAX_KEY_LENGTH or 124 in key or 32 in key or 10 in key or 13 in key


def size_of(data: Pairs) -> int:
    """Bytes of a session's keys and values (what ``--max-session`` limits)."""
    return sum(map(len, data)) + sum(map(len, data.values()))


def check_put(limits: Limits, data: Pairs, size: int, key: bytes, value: bytes) -> Err | int:
    """The session's size after ``data[key] = value`` (``size`` is its size now), or the rule
    the change breaks; ``data`` is not changed."""
    if bad_key(key):
        return INVALID_KEY
    if len(value) > limits.max_value:
        return VALUE_TOO_LARGE
    old = data.get(key)
    if old is None:
        if len(data) >= limits.max_keys:
            return TOO_MANY_KEYS
        size += len(key) + len(value)
    else:
        size += len(value) - len(old)
    return SESSION_TOO_LARGE if size > limits.max_session else size


def check_changes(limits: Limits, changes: Pairs) -> Err | None:
    """The rule the keys or values of ``changes`` break, if any (the limits on the whole
    session need the session: see :func:`apply_changes`)."""
    max_value = limits.max_value
    for key, value in changes.items():
        if bad_key(key):
            return INVALID_KEY
        if len(value) > max_value:
            return VALUE_TOO_LARGE
    return None


def check_pairs(limits: Limits, data: Pairs) -> Err | int:
    """The size of a whole new session (``put_all``, ``create``), or the rule it breaks."""
    if len(data) > limits.max_keys:
        return TOO_MANY_KEYS
    bad = check_changes(limits, data)
    if bad is not None:
        return bad
    size = size_of(data)
    return SESSION_TOO_LARGE if size > limits.max_session else size


def apply_changes(limits: Limits, data: Pairs, changes: Pairs, removed: list[bytes]) -> Pairs | Err:
    """The session after setting ``changes`` and removing ``removed`` (a one-command
    ``write``), or the rule that breaks; ``data`` is not changed.  The change is atomic, so the
    limits apply to the result, not to the steps a series of ``put``s would pass through."""
    bad = check_changes(limits, changes)
    if bad is not None:
        return bad
    result = dict(data)
    result.update(changes)
    for key in removed:
        result.pop(key, None)
    if len(result) > limits.max_keys:
        return TOO_MANY_KEYS
    if size_of(result) > limits.max_session:
        return SESSION_TOO_LARGE
    return result


def seconds(raw: bytes, low: int) -> int | None:
    """A whole number of seconds from ``low`` to :data:`MAX_TTL` from the wire, or None."""
    if not raw.isdigit() or not raw.isascii() or len(raw) > 10:
        return None
    value = int(raw)
    return value if low <= value <= MAX_TTL else None


class SessionCap:
    """``--max-sessions``: the live sessions as the store last counted them (the daemon counts
    them at start and in its housekeeping), plus the ones created since."""

    __slots__ = ("_created", "_created_at_count", "counted", "limit")

    def __init__(self, limit: int | None, created: Callable[[], int]) -> None:
        self.limit = limit
        self._created = created
        self.counted = 0
        self._created_at_count = 0

    def recount(self, live: int, created: int) -> None:
        """The store holds ``live`` sessions, counted when ``created`` had been created."""
        self.counted = live
        self._created_at_count = created

    def full(self) -> bool:
        """Whether no session may be created now (logged, rate-limited by the daemon)."""
        if self.limit is None:
            return False
        if self.counted + self._created() - self._created_at_count < self.limit:
            return False
        logger.warning(
            "session limit reached (%d, --max-sessions): refusing new sessions", self.limit
        )
        return True
