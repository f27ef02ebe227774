"""Every exception the clients raise, in one tree.

::

    SessionServerError
    ├── ConfigurationError            a bad URL or option
    ├── TransportError                the connection, not the server, failed
    │   ├── ConnectError              no daemon answered at any address
    │   │   └── TLSError              the TLS handshake failed: an untrusted certificate,
    │   │                             a wrong host name, a client certificate refused
    │   ├── ConnectionLost            the connection broke during a request
    │   ├── ProtocolError             the peer sent bytes that are not the protocol
    │   └── SessionServerTimeout
    │       ├── ConnectTimeout
    │       ├── ReadTimeout           no reply in time (the connection is dropped)
    │       └── PoolTimeout           no pooled connection became free in time
    └── ServerError                   the server replied ``err``/``-ERR``; .message says why
        ├── AuthenticationError       missing or wrong token
        ├── NoSessionOpen
        ├── SessionNotFound           unknown, expired or destroyed id
        │   └── SessionGone           it went away while open (destroyed, expired)
        ├── SessionLocked             the write-lock wait timed out
        ├── LockLost                  the lock's lease expired before commit
        ├── KeyNotFound
        ├── ReadOnlySession           a write on a session opened with mode "r"
        ├── PayloadTooLarge           a value, session, line or key count over a limit
        ├── InvalidRequest            a bad argument, key, mode or payload
        ├── StorageUnavailable        the server's storage cannot save now
        └── ServerBusy                too many connections, or the server is stopping

No client call lets a raw ``OSError``, ``socket.timeout`` or ``asyncio.TimeoutError`` escape:
they become :class:`TransportError` subclasses.  None of these names shadow a builtin.
Server replies map to classes through :data:`ERROR_CLASSES`, one table keyed by the reply
names of ``sessionserver.protocol.replies``.
"""

from __future__ import annotations

from .protocol import resp as _resp
from .protocol.replies import ERRORS, Err

__all__ = [
    "ERROR_CLASSES",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLost",
    "InvalidRequest",
    "KeyNotFound",
    "LockLost",
    "NoSessionOpen",
    "PayloadTooLarge",
    "PoolTimeout",
    "ProtocolError",
    "ReadOnlySession",
    "ReadTimeout",
    "ServerBusy",
    "ServerError",
    "SessionGone",
    "SessionLocked",
    "SessionNotFound",
    "SessionServerError",
    "SessionServerTimeout",
    "StorageUnavailable",
    "TLSError",
    "TransportError",
    "error_from_reply",
]


class SessionServerError(Exception):
    """Base of everything the session server's clients raise."""


class ConfigurationError(SessionServerError, ValueError):
    """A client URL or option is invalid."""


class TransportError(SessionServerError):
    """Talking to the server failed; the server may never have seen the request."""


class ConnectError(TransportError):
    """No daemon could be reached at any of the configured addresses."""


class TLSError(ConnectError):
    """TLS failed: the server's certificate is not trusted or names another host, the
    server refused this client's certificate, or the peer does not speak TLS.  Raised at
    once (no failover to the next host): it is a configuration to fix, not an outage."""


class ConnectionLost(TransportError):
    """The connection broke while a request was in flight."""


class ProtocolError(TransportError):
    """The server sent bytes that are not the protocol."""


class SessionServerTimeout(TransportError):
    """Something took longer than its configured timeout."""


class ConnectTimeout(SessionServerTimeout):
    """Connecting took longer than ``connect_timeout``."""


class ReadTimeout(SessionServerTimeout):
    """No complete reply within ``timeout``; the connection is closed, not reused."""


class PoolTimeout(SessionServerTimeout):
    """No pooled connection became free within ``pool_timeout``."""


class ServerError(SessionServerError):
    """The server answered with an error reply.

    Attributes:
        message: the server's message, as in the protocol documentation.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthenticationError(ServerError):
    """The server wants a token, or a different one."""


class NoSessionOpen(ServerError):
    """A session command was sent without an open session."""


class SessionNotFound(ServerError):
    """The id is unknown, expired or was destroyed."""


class SessionGone(SessionNotFound):
    """The session went away (destroyed elsewhere, expired) while it was open."""


class SessionLocked(ServerError):
    """The wait for the session's write lock exceeded the server's lock timeout."""


class LockLost(ServerError):
    """The write lock was taken away (its lease expired); the changes were dropped."""


class KeyNotFound(ServerError, KeyError):
    """The key is not in the session."""

    def __str__(self) -> str:
        return self.message


class ReadOnlySession(ServerError):
    """A write on a session opened for reading."""


class PayloadTooLarge(ServerError):
    """A value, a session, a request or the number of keys exceeds a server limit."""


class InvalidRequest(ServerError, ValueError):
    """An argument, key, mode or payload the server refuses."""


class StorageUnavailable(ServerError):
    """The server's storage cannot save right now (the change was not saved)."""


class ServerBusy(ServerError):
    """The server refused the connection (too many) or is shutting down."""


_BY_NAME: dict[str, type[ServerError]] = {
    "no_session": NoSessionOpen,
    "open_failed": SessionNotFound,
    "gone": SessionGone,
    "no_such_key": KeyNotFound,
    "locked": SessionLocked,
    "lock_lost": LockLost,
    "read_only": ReadOnlySession,
    "session_open_here": InvalidRequest,
    "store_failed": StorageUnavailable,
    "commit_failed": StorageUnavailable,
    "close_failed": StorageUnavailable,
    "destroy_failed": StorageUnavailable,
    "regenerate_failed": StorageUnavailable,
    "storage_unavailable": StorageUnavailable,
    "keys_failed": InvalidRequest,
    "get_all_failed": InvalidRequest,
    "not_text": InvalidRequest,
    "unknown_command": InvalidRequest,
    "missing_argument": InvalidRequest,
    "invalid_argument": InvalidRequest,
    "invalid_mode": InvalidRequest,
    "invalid_key": InvalidRequest,
    "invalid_utf8": InvalidRequest,
    "nul_byte": InvalidRequest,
    "malformed_serialized": InvalidRequest,
    "nested_array": InvalidRequest,
    "value_too_large": PayloadTooLarge,
    "too_many_keys": PayloadTooLarge,
    "session_too_large": PayloadTooLarge,
    "line_too_long": PayloadTooLarge,
    "auth_required": AuthenticationError,
    "auth_failed": AuthenticationError,
    "too_many_connections": ServerBusy,
    "shutting_down": ServerBusy,
    "internal": ServerError,
}

#: Server error message -> exception class: one table, built from the server's own replies
#: and the RESP codec's protocol errors (a request the codec refused).
ERROR_CLASSES: dict[str, type[ServerError]] = {
    **{err.message: InvalidRequest for err in vars(_resp).values() if isinstance(err, Err)},
    **{err.message: _BY_NAME[name] for name, err in ERRORS.items()},
}


def error_from_reply(text: str) -> ServerError:
    """The exception for an error reply (``ERR <message>`` in RESP2, or the bare message)."""
    code, _, rest = text.partition(" ")
    message = rest if code.isupper() and rest else text
    cls = ERROR_CLASSES.get(message)
    if cls is None:
        # Another RESP server (Redis) says what it means in the code, not the message.
        cls = AuthenticationError if code in ("NOAUTH", "WRONGPASS") else ServerError
    return cls(message)
