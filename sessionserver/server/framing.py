"""Which codec a connection speaks, and with which limits.

The first byte a client sends decides the framing: ``*`` is RESP2, anything else the text
framing.  Until it has authenticated (when the server has a token), a connection's codec has
small limits, :data:`PRE_AUTH_LINE` bytes and :data:`PRE_AUTH_ARGS` arguments, so that nobody
without a token gets more than a few kilobytes parsed; :func:`raise_limits` gives it the
configured ones once ``auth`` succeeded.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..protocol.resp import RespServerCodec
from ..protocol.text import TextServerCodec
from .config import ServerConfig
from .inbox import Inbox

__all__ = [
    "PRE_AUTH_ARGS",
    "PRE_AUTH_LINE",
    "Codec",
    "Sniffer",
    "new_codec",
    "parse_all",
    "raise_limits",
]

#: Limits of a request before ``auth`` succeeds (``hello 3 AUTH user token SETNAME name``
#: has seven arguments).
PRE_AUTH_LINE = 4096
PRE_AUTH_ARGS = 16

Codec = TextServerCodec | RespServerCodec


def new_codec(first_byte: int, config: ServerConfig, *, gated: bool) -> Codec:
    """The codec for a connection whose first byte is ``first_byte``."""
    max_line = PRE_AUTH_LINE if gated else config.max_line
    if first_byte == 42:  # "*"
        return RespServerCodec(max_line, PRE_AUTH_ARGS if gated else config.max_args)
    return TextServerCodec(max_line)


def raise_limits(codec: Codec, config: ServerConfig) -> None:
    """The configured limits, for a connection that has authenticated."""
    if isinstance(codec, RespServerCodec):
        codec.max_request = config.max_line
        codec.max_args = config.max_args
    else:
        codec.max_line = config.max_line


def parse_all(codec: object, inbox: Inbox) -> list[list[Any]]:
    """Every request complete in what ``codec`` holds and ``inbox`` has (emptied), whatever
    limits they were read under (for answering them at shutdown)."""
    if not isinstance(codec, TextServerCodec | RespServerCodec):
        inbox.clear()
        return []
    requests = codec.resume()
    while inbox:
        requests += codec.feed(inbox.take(inbox.size))
    return requests


class _Chooser(Protocol):
    def use_framing(self, first_byte: int) -> Codec: ...


class Sniffer:
    """A connection's codec until its first bytes arrive: they decide the framing."""

    __slots__ = ("_conn",)

    def __init__(self, conn: _Chooser) -> None:
        self._conn = conn

    def feed(self, data: bytes) -> list[list[Any]]:
        return self._conn.use_framing(data[0]).feed(data)

    def feed_one(self, data: bytes) -> list[list[Any]]:
        return self._conn.use_framing(data[0]).feed_one(data)
