"""Every error reply the server can send, in one table.

The first group is byte-exact from the original PHP session server (``protocol.md`` section 1);
PHP clients compare against these strings, so they must never change.  The second group covers
conditions the original did not detect (it dropped the connection or silently ignored them);
each has its own message so that clients can map a reply to an exception through one table.
"""

from __future__ import annotations

__all__ = ["ERRORS", "Err", "Raw", "Timed"]


class Err:
    """An error reply: its message and its pre-encoded lines in both framings.

    Instances are module constants, compared by identity in the hot path and encoded once.
    """

    __slots__ = ("message", "name", "resp", "text")

    def __init__(self, name: str, message: str, code: str = "ERR") -> None:
        self.name = name
        self.message = message
        self.text = b"err " + message.encode() + b"\r\n"
        #: RESP2 errors start with a code; Redis clients map some to their own exceptions
        #: (``NOAUTH``, ``WRONGPASS``), so those are the codes used where they fit.
        self.resp = f"-{code} {message}\r\n".encode()

    def __repr__(self) -> str:
        return f"Err({self.name}: {self.message!r})"


class Raw:
    """A reply already encoded for each framing (for the few that fit no other shape)."""

    __slots__ = ("resp", "text")

    def __init__(self, *, text: bytes, resp: bytes) -> None:
        self.text = text
        self.resp = resp


class Timed:
    """A reply that also carries the session's seconds left (``read``/``write`` with
    ``withttl``): ``ok <seconds> [value]`` in text, the integer first in RESP2."""

    __slots__ = ("seconds", "value")

    def __init__(self, seconds: int, value: dict[bytes, bytes] | None) -> None:
        self.seconds = seconds
        self.value = value


def _err(name: str, message: str, code: str = "ERR") -> Err:
    e = Err(name, message, code)
    ERRORS[name] = e
    return e


ERRORS: dict[str, Err] = {}

# --- byte-exact, from the original protocol -------------------------------------------------
NO_SESSION = _err("no_session", "No session opened.")
UNKNOWN_COMMAND = _err("unknown_command", "unknown command")
OPEN_FAILED = _err("open_failed", "Could not open session.")
STORE_FAILED = _err("store_failed", "Could not store value")
NO_SUCH_KEY = _err("no_such_key", "Key does not exist")
KEYS_FAILED = _err("keys_failed", "Could not retrieve keys.")
GET_ALL_FAILED = _err("get_all_failed", "Could not get session data.")
COMMIT_FAILED = _err("commit_failed", "Could not commit session.")
CLOSE_FAILED = _err("close_failed", "Could not close session")
DESTROY_FAILED = _err("destroy_failed", "Could not destroy session.")
REGENERATE_FAILED = _err("regenerate_failed", "Could not regenerate session id.")

# --- conditions the original did not report ----------------------------------------------------
MISSING_ARGUMENT = _err("missing_argument", "Missing argument.")
INVALID_ARGUMENT = _err("invalid_argument", "Invalid argument.")
INVALID_MODE = _err("invalid_mode", "Invalid mode; use r, w or rw.")
INVALID_KEY = _err("invalid_key", "Invalid key.")
READ_ONLY = _err("read_only", "Session is open read-only.")
LOCKED = _err("locked", "Session is locked.")
LOCK_LOST = _err("lock_lost", "Lock lost: the lease expired.")
GONE = _err("gone", "Session no longer exists.")
VALUE_TOO_LARGE = _err("value_too_large", "Value too large.")
TOO_MANY_KEYS = _err("too_many_keys", "Too many keys.")
SESSION_TOO_LARGE = _err("session_too_large", "Session too large.")
LINE_TOO_LONG = _err("line_too_long", "Line too long.")
INVALID_UTF8 = _err("invalid_utf8", "Invalid UTF-8.")
NUL_BYTE = _err("nul_byte", "NUL byte in request.")
MALFORMED_SERIALIZED = _err("malformed_serialized", "Malformed serialized data.")
NESTED_ARRAY = _err("nested_array", "Nested arrays are not supported.")
AUTH_REQUIRED = _err("auth_required", "Authentication required.", "NOAUTH")
AUTH_FAILED = _err("auth_failed", "Invalid token.", "WRONGPASS")
ADMIN_REQUIRED = _err("admin_required", "Admin token required.", "NOPERM")
PROTECTED_MODE = _err(
    "protected_mode",
    "Protected mode: the server has no --auth-token, so it accepts connections from its own "
    "host only. Set --auth-token (or SESSIONSERVER_AUTH_TOKEN) on the server and the clients, "
    "or start it with --no-protected-mode if the network is trusted.",
    "DENIED",
)
TOO_MANY_FROM_ADDRESS = _err("too_many_from_address", "Too many connections from this address.")
TOO_MANY_SESSIONS = _err("too_many_sessions", "Too many sessions.")
TOO_MANY_CONNECTIONS = _err("too_many_connections", "Too many connections.")
SESSION_OPEN_HERE = _err("session_open_here", "Session is open on this connection.")
NOT_TEXT = _err("not_text", "Value is not text; use the RESP framing.")
STORAGE_UNAVAILABLE = _err("storage_unavailable", "Storage unavailable.")
SHUTTING_DOWN = _err("shutting_down", "Server is shutting down.")
INTERNAL = _err("internal", "Internal server error.")

# --- backup (the embedded store only; each refusal says what to back up instead) -------------
BACKUP_MEMORY = _err(
    "backup_memory", "Nothing to back up: memory:// keeps sessions in memory only."
)
BACKUP_FILE = _err(
    "backup_file",
    "No backup command for file:// storage: copy its folder (each session file is replaced "
    "whole, so a copy holds every session whole).",
)
BACKUP_REDIS = _err(
    "backup_redis",
    "No backup command for Redis storage: back up Redis itself (BGSAVE, AOF, or a replica).",
)
BACKUP_POSTGRES = _err(
    "backup_postgres",
    "No backup command for PostgreSQL storage: back up the database itself (pg_dump, or a "
    "replica).",
)
BACKUP_EXISTS = _err("backup_exists", "Backup file exists.")
BACKUP_CANNOT_WRITE = _err(
    "backup_cannot_write", "Cannot write the backup there (no such folder, or not writable)."
)
BACKUP_FAILED = _err("backup_failed", "Backup failed (the server's log says why).")
