"""What Redis client libraries send on their own, so that any of them can connect.

redis-py 8 opens every connection with ``HELLO 3`` (and ``HELLO 3 AUTH <user> <password>``
when given a password), other clients send ``CLIENT SETNAME``/``SETINFO`` or ``SELECT 0``.
The server speaks RESP2; RESP3 clients parse RESP2 replies (arrays, bulk and simple strings,
integers, errors) unchanged, so the only RESP3 the server ever writes is the map that answers
``HELLO 3``.
"""

from __future__ import annotations

import hmac
from typing import Any

from .. import __version__
from ..protocol.replies import AUTH_FAILED, INVALID_ARGUMENT, Err, Raw
from .sessions.state import ConnectionState

__all__ = ["authenticate", "cmd_client", "cmd_hello", "cmd_select"]

_NOPROTO = Raw(
    text=b"err Protocol version not supported.\r\n",
    resp=b"-NOPROTO unsupported protocol version\r\n",
)


def authenticate(st: ConnectionState, token: bytes) -> bool:
    """Check a token and give the connection its role: the admin token's (every command),
    or the auth token's (the app role; the admin role too when no admin token is set).

    Both comparisons always run, in constant time, so that the time taken tells nothing
    about either token.  A wrong token changes nothing: a connection keeps its role.
    """
    admin = st.admin_token
    app = st.token
    is_admin = hmac.compare_digest(token, admin) if admin is not None else False
    is_app = hmac.compare_digest(token, app) if app is not None else False
    if is_admin or (admin is None and (is_app or app is None)):
        st.tables = st.admin_tables
    elif not is_app:
        return False
    st.authenticated()
    return True


def _info(proto: int) -> Raw:
    pairs: list[tuple[bytes, bytes | int]] = [
        (b"server", b"sessionserver"),
        (b"version", __version__.encode()),
        (b"proto", proto),
        (b"mode", b"standalone"),
        (b"role", b"master"),
    ]
    body = b"".join(
        (b"$%d\r\n%s\r\n" % (len(k), k))
        + (b":%d\r\n" % v if isinstance(v, int) else b"$%d\r\n%s\r\n" % (len(v), v))
        for k, v in pairs
    )
    header = b"%%%d\r\n" % len(pairs) if proto == 3 else b"*%d\r\n" % (2 * len(pairs))
    text = (
        b"ok "
        + b" ".join(k + b"=" + (b"%d" % v if isinstance(v, int) else v) for k, v in pairs)
        + b"\r\n"
    )
    return Raw(text=text, resp=header + body)


_HELLO = {2: _info(2), 3: _info(3)}


def cmd_hello(st: ConnectionState, parts: list[Any]) -> Any:
    """``HELLO [protover [AUTH username password] [SETNAME name]]``."""
    proto = 2
    if len(parts) > 1:
        if not parts[1].isdigit():
            return INVALID_ARGUMENT
        proto = int(parts[1])
        if proto not in _HELLO:
            return _NOPROTO
    options = [p.lower() if i % 2 == 0 else p for i, p in enumerate(parts[2:])]
    if b"auth" in options[::2]:
        at = options.index(b"auth")
        if at + 2 >= len(options) or not authenticate(st, options[at + 2]):
            return AUTH_FAILED
    elif st.token is not None and st.table is st.tables.auth:
        return _AUTH_FIRST
    return _HELLO[proto]


_AUTH_FIRST = Raw(
    text=b"err Authentication required.\r\n",
    resp=b"-NOAUTH HELLO must be called with the client already authenticated\r\n",
)


def cmd_client(st: ConnectionState, parts: list[Any]) -> Any:
    """``CLIENT SETNAME``/``SETINFO``/...: accepted and ignored."""
    return None


def cmd_select(st: ConnectionState, parts: list[Any]) -> Any:
    """``SELECT 0`` is fine; there are no other databases."""
    return None if parts[1] == b"0" else Err("invalid_db", "DB index is out of range.")
