"""What a connection's error replies do besides going out: counted, and told to the operator.

Every error reply is counted by name (the admin listener's ``errors_total``).  The ones that
mean a client hit a limit or sent a wrong token are warnings, once per connection and kind, so
that a client repeating itself cannot flood the log (``ratelog`` also folds repeats across
connections).  A wrong token is also counted towards the connection's last try
(``MAX_AUTH_FAILURES``), and a command that failed inside the daemon is logged and answered
as a storage error or an internal one.
"""

from __future__ import annotations

import logging
from typing import Any

from ..logs import sid_prefix
from ..protocol.replies import (
    AUTH_FAILED,
    INTERNAL,
    LINE_TOO_LONG,
    LOCKED,
    SESSION_TOO_LARGE,
    STORAGE_UNAVAILABLE,
    TOO_MANY_KEYS,
    VALUE_TOO_LARGE,
    Err,
)
from ..storage import StorageError
from .sessions.counters import Counters
from .sessions.state import ConnectionState

__all__ = ["MAX_AUTH_FAILURES", "ErrorReplies"]

#: The logger of the connections, whose warnings these are.
logger = logging.getLogger("sessionserver.server.connection")

#: Wrong tokens a connection may send before it is closed.
MAX_AUTH_FAILURES = 5
#: The error replies that mean a client was refused by a limit or a wrong token: logged at
#: warning, as what the operator may have to act on.
_WARN = {
    AUTH_FAILED: "authentication failed",
    LINE_TOO_LONG: "limit reached",
    VALUE_TOO_LARGE: "limit reached",
    TOO_MANY_KEYS: "limit reached",
    SESSION_TOO_LARGE: "limit reached",
    LOCKED: "lock wait timed out",
}


class ErrorReplies:
    """The error replies of one connection."""

    __slots__ = ("_counters", "_state", "_warned", "auth_failures")

    def __init__(self, counters: Counters, state: ConnectionState) -> None:
        self._counters = counters
        self._state = state
        self._warned: set[Err] = set()
        self.auth_failures = 0

    def sent(self, err: Err) -> None:
        """``err`` was answered (the error path only)."""
        self._counters.failed(err)
        if err in _WARN and err not in self._warned:
            self._warned.add(err)
            st = self._state
            logger.warning(
                "%s from %s: %s (once per connection)",
                _WARN[err],
                st.peer or "a client",
                err.message,
                extra={"peer": st.peer or None, "reply": err.name, "session": sid_prefix(st.sid)},
            )

    def auth_failed(self) -> bool:
        """Count a wrong token; whether that was the last try (the connection closes)."""
        self.auth_failures += 1
        if self.auth_failures < MAX_AUTH_FAILURES:
            return False
        st = self._state
        logger.warning(
            "closing a connection from %s after %d wrong tokens",
            st.peer or "a client",
            MAX_AUTH_FAILURES,
            extra={"peer": st.peer or None},
        )
        st.closing = True
        return True

    @staticmethod
    def failed(exc: BaseException | None = None) -> Any:
        """The reply to a command that raised ``exc`` (None: the one being handled)."""
        if exc is None:
            logger.exception("command failed")
        elif isinstance(exc, StorageError):
            logger.error("storage failed: %s", exc)
            return STORAGE_UNAVAILABLE
        else:
            logger.error("command failed", exc_info=exc)
        return INTERNAL
