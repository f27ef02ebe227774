"""Error replies map to exception classes through the reply table, in both framings' bytes."""

from __future__ import annotations

import re

import pytest

from sessionserver.client._codec import new_parser, raise_for
from sessionserver.exceptions import (
    ERROR_CLASSES,
    AuthenticationError,
    InvalidRequest,
    KeyNotFound,
    ServerError,
    SessionNotFound,
)
from sessionserver.protocol.replies import ERRORS, NO_SUCH_KEY, OPEN_FAILED


def _parse(line: bytes) -> object:
    parser = new_parser()
    parser.feed(line)
    return parser.get()


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_reply_has_its_class(name: str) -> None:
    err = ERRORS[name]
    expected = ERROR_CLASSES[err.message]
    with pytest.raises(ServerError) as caught:
        raise_for(_parse(err.resp))
    assert type(caught.value) is expected
    assert caught.value.message == err.message
    if name.startswith("auth_"):
        assert expected is AuthenticationError


def test_the_codecs_protocol_errors_are_invalid_requests() -> None:
    from sessionserver.protocol import resp
    from sessionserver.protocol.replies import Err

    refused = [e for e in vars(resp).values() if isinstance(e, Err)]
    assert refused
    for err in refused:
        with pytest.raises(InvalidRequest, match=re.escape(err.message)):
            raise_for(_parse(err.resp))


def test_another_servers_auth_codes() -> None:
    with pytest.raises(AuthenticationError):
        raise_for(_parse(b"-NOAUTH Authentication required.\r\n"))
    with pytest.raises(AuthenticationError):
        raise_for(_parse(b"-WRONGPASS invalid username-password pair\r\n"))


def test_allow_lets_one_class_through_and_no_other() -> None:
    assert raise_for(_parse(NO_SUCH_KEY.resp), allow=KeyNotFound) is None
    with pytest.raises(SessionNotFound):
        raise_for(_parse(OPEN_FAILED.resp), allow=KeyNotFound)
    assert raise_for(_parse(b"+OK\r\n"), allow=KeyNotFound) == b"OK"


def test_an_unknown_message_is_a_plain_server_error() -> None:
    with pytest.raises(ServerError) as caught:
        raise_for(_parse(b"-ERR something new\r\n"))
    assert type(caught.value) is ServerError and caught.value.message == "something new"
