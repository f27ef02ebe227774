"""Every exception the package raises, clients and daemon alike, in one tree.

::

    SessionServerError
    ├── ConfigurationError            a bad URL, option or config file (client or daemon)
    ├── StartupError                  the daemon could not start (address in use, storage)
    ├── StorageError                  the daemon's store cannot do what was asked
    ├── TransportError                the connection, not the server, failed
    │   ├── ConnectError              no daemon answered at any address
    │   │   └── TLSError              the TLS handshake failed: an untrusted certificate,
    │   │                             a wrong host name, a client certificate refused
    │   ├── ConnectionLost            the connection broke during a request
    │   ├── ProtocolError             the peer sent bytes that are not the protocol
    │   │                             (the codec's RespProtocolError, either side)
    │   └── SessionServerTimeout
    │       ├── ConnectTimeout
    │       ├── ReadTimeout           no reply in time (the connection is dropped)
    │       └── PoolTimeout           no pooled connection became free in time
    └── ServerError                   the server replied ``err``/``-ERR``; .message says why
        ├── AuthenticationError       missing or wrong token, no admin role, protected mode
        ├── NoSessionOpen
        ├── SessionNotFound           unknown, expired or destroyed id
        │   └── SessionGone           it went away while open (destroyed, expired)
        ├── SessionLocked             the write-lock wait timed out
        ├── LockLost                  the lock's lease expired before commit (the daemon's
        │                             shared store raises it too, for a fenced save)
        ├── KeyNotFound
        ├── ReadOnlySession           a write on a session opened with mode "r"
        ├── PayloadTooLarge           a value, session, line or key count over a limit
        ├── InvalidRequest            a bad argument, key, mode or payload
        │   └── SerializeError        PHP serialize() text that is not a flat array
        │       └── NestedArrayError
        ├── StorageUnavailable        the server's storage cannot save now
        └── ServerBusy                too many connections or sessions, or the server stopping

No client call lets a raw ``OSError``, ``socket.timeout`` or ``asyncio.TimeoutError`` escape:
they become :class:`TransportError` subclasses.  None of these names shadow a builtin.
Server replies map to classes through :data:`ERROR_CLASSES`, built from one table keyed by the
reply names of ``sessionserver.protocol.replies``.

This module imports nothing of the package when it loads, so every other module may import
it; the table of reply messages is built on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ERROR_CLASSES",
    "ERROR_NAMES",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLost",
    "InvalidRequest",
    "KeyNotFound",
    "LockLost",
    "NestedArrayError",
    "NoSessionOpen",
    "PayloadTooLarge",
    "PoolTimeout",
    "ProtocolError",
    "ReadOnlySession",
    "ReadTimeout",
    "SerializeError",
    "ServerBusy",
    "ServerError",
    "SessionGone",
    "SessionLocked",
    "SessionNotFound",
    "SessionServerError",
    "SessionServerTimeout",
    "StartupError",
    "StorageError",
    "StorageUnavailable",
    "TLSError",
    "TransportError",
    "error_from_reply",
]


class SessionServerError(Exception):
    """Base of everything the session server's clients raise."""


class ConfigurationError(SessionServerError, ValueError):
    """A client URL, a daemon option or a config file is invalid; the message is one line."""


class StartupError(SessionServerError):
    """The daemon could not start (address in use, storage unusable); one line for the
    operator."""


class StorageError(SessionServerError):
    """The daemon's store cannot do what was asked (disk full, database gone, ...)."""


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


class SerializeError(InvalidRequest):
    """The payload is not valid PHP serialize() text of an array."""


class NestedArrayError(SerializeError):
    """The array holds another array; sessions are flat."""


class StorageUnavailable(ServerError):
    """The server's storage cannot save right now (the change was not saved)."""


class ServerBusy(ServerError):
    """The server refused the connection (too many) or is shutting down."""


#: Reply name (``protocol.replies``) -> exception class: the one table replies map through.
ERROR_NAMES: dict[str, type[ServerError]] = {
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
    "admin_required": AuthenticationError,
    "protected_mode": AuthenticationError,
    "too_many_from_address": ServerBusy,
    "too_many_sessions": ServerBusy,
    "too_many_connections": ServerBusy,
    "shutting_down": ServerBusy,
    "internal": ServerError,
    "backup_memory": InvalidRequest,
    "backup_file": InvalidRequest,
    "backup_redis": InvalidRequest,
    "backup_postgres": InvalidRequest,
    "backup_exists": InvalidRequest,
    "backup_cannot_write": InvalidRequest,
    "backup_failed": ServerError,
}

_classes: dict[str, type[ServerError]] = {}


def _error_classes() -> dict[str, type[ServerError]]:
    """Server error message -> exception class, built once from the server's own replies and
    the RESP codec's protocol errors (a request the codec refused)."""
    if not _classes:
        from .protocol import resp
        from .protocol.replies import ERRORS, Err

        _classes.update(
            {err.message: InvalidRequest for err in vars(resp).values() if isinstance(err, Err)}
        )
        _classes.update({err.message: ERROR_NAMES[name] for name, err in ERRORS.items()})
    return _classes


#: Server error message -> exception class (see :func:`_error_classes`).
ERROR_CLASSES: dict[str, type[ServerError]]


def __getattr__(name: str) -> Any:
    if name == "ERROR_CLASSES":  # built on first use: see the module docstring
        return _error_classes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def error_from_reply(text: str) -> ServerError:
    """The exception for an error reply (``ERR <message>`` in RESP2, or the bare message)."""
    code, _, rest = text.partition(" ")
    message = rest if code.isupper() and rest else text
    cls = _error_classes().get(message)
    if cls is None:
        # Another RESP server (Redis) says what it means in the code, not the message.
        cls = AuthenticationError if code in ("NOAUTH", "WRONGPASS") else ServerError
    return cls(message)
