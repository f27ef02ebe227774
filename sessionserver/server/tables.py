"""The command tables: what each command does in each state of a connection.

A connection's table says what each command does in its current state, so the per-line path
checks neither authentication, nor the connection's role, nor whether a session is open:
binding a session, closing it and authenticating switch tables (see ``ConnectionState``).
Built from the command table of ``protocol.commands``, so a command without a handler fails
at import.

Two roles, two sets of tables: :data:`TABLES` serve every command (the admin role, and every
connection of a daemon without tokens); :data:`APP_TABLES` (the app role) answer the admin
commands (``Command.admin``) with ``err Admin token required.``
"""

from __future__ import annotations

from typing import Any

from ..protocol.commands import COMMANDS
from ..protocol.replies import ADMIN_REQUIRED, AUTH_REQUIRED, NO_SESSION, UNKNOWN_COMMAND
from ..protocol.resp import PROTOCOL_ERROR
from ..protocol.text import CODEC_ERROR
from . import compat, dispatcher
from .sessions.state import ConnectionState, Spec, Tables

__all__ = ["APP_TABLES", "TABLES", "UNKNOWN"]


def _codec_error(st: ConnectionState, parts: list[Any]) -> Any:
    return parts[1]


def _protocol_error(st: ConnectionState, parts: list[Any]) -> Any:
    st.closing = True  # a RESP stream cannot be resynchronised: answer, then close
    return parts[1]


def _unknown(st: ConnectionState, parts: list[Any]) -> Any:
    return UNKNOWN_COMMAND


def _auth_required(st: ConnectionState, parts: list[Any]) -> Any:
    return AUTH_REQUIRED


def _no_session(st: ConnectionState, parts: list[Any]) -> Any:
    return NO_SESSION


def _admin_required(st: ConnectionState, parts: list[Any]) -> Any:
    return ADMIN_REQUIRED


def _handler(name: str) -> Any:
    for module in (dispatcher, compat):
        handler = getattr(module, "cmd_" + name, None)
        if handler is not None:
            return handler
    raise LookupError(f"no handler for command {name!r}")


_NEEDS_SESSION = {name.encode() for name, cmd in COMMANDS.items() if cmd.needs_session}
_ADMIN = {name.encode() for name, cmd in COMMANDS.items() if cmd.admin}
_ALWAYS = (b"auth", b"hello", b"client", b"ping", b"quit", CODEC_ERROR, PROTOCOL_ERROR)

#: name -> (handler, number of parts required), while a session is open.
_OPEN: dict[bytes, Spec] = {
    name.encode(): (_handler(name), cmd.min_args + 1) for name, cmd in COMMANDS.items()
}
_OPEN[CODEC_ERROR] = (_codec_error, 2)
_OPEN[PROTOCOL_ERROR] = (_protocol_error, 2)

#: The same without a session: commands that need one answer ``err No session opened.``.
_IDLE: dict[bytes, Spec] = {
    name: (_no_session, 0) if name in _NEEDS_SESSION else spec for name, spec in _OPEN.items()
}

#: The table of a connection that still has to authenticate.
_AUTH: dict[bytes, Spec] = {
    name: (spec if name in _ALWAYS else (_auth_required, 0)) for name, spec in _IDLE.items()
}

TABLES = Tables(auth=_AUTH, idle=_IDLE, open=_OPEN)


def _app(table: dict[bytes, Spec]) -> dict[bytes, Spec]:
    return {name: (_admin_required, 0) if name in _ADMIN else spec for name, spec in table.items()}


APP_TABLES = Tables(auth=_AUTH, idle=_app(_IDLE), open=_app(_OPEN))
UNKNOWN: Spec = (_unknown, 0)
