"""The command table: one row per protocol command.

The codec, the daemon's dispatcher and ``docs/protocol.md`` all read this table, so adding a
command means adding one row here, one handler in the dispatcher and one line in the codec
tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CODEC_ERROR", "COMMANDS", "PROTOCOL_ERROR", "Command"]


class _Pseudo:
    """The name of a request a codec rejected: ``[name, Err]``.  Not bytes, so that no client
    can send it (a RESP2 request may name any bytes, NUL bytes included)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: A line the text codec rejected (too long, not UTF-8, a NUL byte): answered, and the
#: connection goes on.
CODEC_ERROR: Any = _Pseudo("CODEC_ERROR")
#: A request the RESP2 codec rejected: answered, then the connection closes.
PROTOCOL_ERROR: Any = _Pseudo("PROTOCOL_ERROR")


@dataclass(frozen=True, slots=True)
class Command:
    """One protocol command.

    Attributes:
        name: the lower-case command name (matching is case-insensitive).
        usage: the arguments, as shown in the docs.
        min_args: how many arguments must follow the name; fewer gets ``err Missing argument.``
        needs_session: whether the command needs an open session (``err No session opened.``).
        summary: one line for the docs and ``--help`` texts.
        admin: whether the command needs the admin role: it reaches sessions by other means
            than their ids (listing, reading without an access) or many at once.
    """

    name: str
    usage: str
    min_args: int
    needs_session: bool
    summary: str
    admin: bool = False


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("new", "", 0, False, "create a session, open it for writing; replies its id"),
        Command("open", "<id> [r|w|rw]", 1, False, "open a session; w and rw lock it (default w)"),
        Command("put", "<key> <value...>", 2, True, "set a key in the open session"),
        Command("get", "<key>", 1, True, "the value of a key"),
        Command("exists", "<key>", 1, True, "ok if the key exists"),
        Command("remove", "<key>", 1, True, "delete a key"),
        Command("keys", "", 0, True, "the keys, in insertion order, separated by |"),
        Command("get_all", "", 0, True, "the whole session, as PHP serialize() text"),
        Command("put_all", "<serialized>", 0, True, "replace the whole session (PHP serialize())"),
        Command("commit", "", 0, True, "save, unlock, keep the session open read-only"),
        Command("close", "", 0, True, "save, unlock and close the session"),
        Command("destroy", "", 0, True, "delete the session"),
        Command("regenerate_id", "", 0, True, "move the session to a fresh id; replies the id"),
        Command("abort", "", 0, True, "drop uncommitted changes, unlock and close the session"),
        Command("ttl", "[seconds]", 0, True, "the seconds left, or set the idle lifetime"),
        Command(
            "gc",
            "<seconds>",
            1,
            False,
            "delete sessions idle longer than that; replies count (admin)",
            admin=True,
        ),
        Command(
            "read",
            "<id> [withttl]",
            1,
            False,
            "the whole session, one command (open r, get_all, close)",
        ),
        Command(
            "write",
            "<id> [ttl <seconds>] [withttl] <changes>",
            2,
            False,
            "set and remove keys atomically, one command (open w, puts, removes, close)",
        ),
        Command(
            "create",
            "[seconds] [pairs]",
            0,
            False,
            "a new session holding the pairs; replies its id",
        ),
        Command(
            "peek",
            "<id>",
            1,
            False,
            "the whole session, not counted as an access (admin)",
            admin=True,
        ),
        Command(
            "expires",
            "<id>",
            1,
            False,
            "seconds left, not counted as an access (admin)",
            admin=True,
        ),
        Command(
            "sessions",
            "[cursor] [count]",
            0,
            False,
            "live ids, a page at a time (admin)",
            admin=True,
        ),
        Command(
            "backup",
            "<path>",
            1,
            False,
            "a consistent copy of the embedded store in a new file on the server (admin)",
            admin=True,
        ),
        Command("user_sessions", "<user>", 1, False, "the ids of a user's sessions"),
        Command(
            "destroy_user",
            "<user> [keep_id]",
            1,
            False,
            "destroy all of a user's sessions (but keep_id); replies how many",
        ),
        Command("auth", "<token>", 1, False, "authenticate (when the server has a token)"),
        Command("ping", "", 0, False, "replies pong"),
        Command("hello", "[2|3] [AUTH user token]", 0, False, "Redis clients' handshake"),
        Command("client", "...", 0, False, "Redis clients' CLIENT SETNAME/SETINFO: ignored"),
        Command("select", "0", 1, False, "Redis clients' SELECT 0: accepted"),
        Command("quit", "", 0, False, "close the connection (uncommitted changes are dropped)"),
        Command("stats", "", 0, False, "counters, as space-separated name=value pairs"),
    )
}
