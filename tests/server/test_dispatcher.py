"""The command tables and handlers in process: which table a connection is at, what a
request that the codec passes on gets, with no sockets."""

from __future__ import annotations

import pytest

from sessionserver.protocol.replies import (
    AUTH_FAILED,
    AUTH_REQUIRED,
    INVALID_ARGUMENT,
    INVALID_MODE,
    MISSING_ARGUMENT,
    NO_SESSION,
    NO_SUCH_KEY,
    UNKNOWN_COMMAND,
)
from sessionserver.server.sessions.state import QUIT, ConnectionState
from sessionserver.server.tables import TABLES

from .sessions.conftest import make_stack, request, settle

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_table_follows_the_connection_state() -> None:
    st = make_stack().connection()
    assert st.table is TABLES.idle
    assert request(st, b"get foo") is NO_SESSION
    sid = await settle(request(st, b"new"))
    assert st.table is TABLES.open
    assert request(st, b"put foo a  b") is None
    assert request(st, b"get foo") == b"a  b"
    assert request(st, b"GET foo") == b"a  b"  # names are case-insensitive
    assert request(st, b"exists nope") is NO_SUCH_KEY
    assert request(st, b"keys") == [b"foo"]
    assert await settle(request(st, b"close")) is None
    assert st.table is TABLES.idle
    assert await settle(request(st, b"open " + sid + b" r")) is None
    assert request(st, b"get_all") == {b"foo": b"a  b"}


async def test_arguments_are_checked_before_any_handler_runs() -> None:
    st = make_stack().connection()
    assert request(st, b"open") is MISSING_ARGUMENT
    assert request(st, b"frobnicate") is UNKNOWN_COMMAND
    assert request(st, b"") is UNKNOWN_COMMAND
    assert request(st, b"open 0123456789abcdef x") is INVALID_MODE
    assert request(st, b"gc soon") is INVALID_ARGUMENT
    assert request(st, b"sessions -1") is INVALID_ARGUMENT
    assert request(st, [b"write", b"0123456789abcdef", b"two"]) is INVALID_ARGUMENT
    assert request(st, [b"write", b"0123456789abcdef", b"2", b"k", b"v"]) is INVALID_ARGUMENT
    assert request(st, [b"create", b"k"]) is INVALID_ARGUMENT  # odd: a lifetime that is not one
    assert request(st, b"quit") is QUIT and st.closing


async def test_a_connection_with_a_token_authenticates_first() -> None:
    stack = make_stack()
    st = ConnectionState(stack.manager, TABLES, token=b"s3cret")
    assert st.table is TABLES.auth
    assert request(st, b"new") is AUTH_REQUIRED
    assert request(st, b"auth wrong") is AUTH_FAILED
    assert request(st, b"ping") is not AUTH_REQUIRED
    assert request(st, b"auth s3cret") is None and st.table is TABLES.idle
    assert isinstance(await settle(request(st, b"new")), bytes)
