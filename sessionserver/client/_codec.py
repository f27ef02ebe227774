"""The client's half of the wire: requests out, replies in, errors mapped.

RESP2 always (binary-safe).  Replies are parsed by hiredis when it is installed (the C parser
redis-py uses) and by ``protocol.resp.RespReplyParser`` otherwise; both give the same values:
bytes, int, None, lists, and :class:`ReplyError` for errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..exceptions import ProtocolError, ServerError, error_from_reply
from ..protocol.resp import (
    INCOMPLETE,
    ReplyError,
    RespProtocolError,
    RespReplyParser,
    encode_request,
)

__all__ = ["encode", "info", "new_parser", "pairs", "raise_for", "strs", "to_bytes"]

encode = encode_request

hiredis: Any
try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis is in the test dependencies
    hiredis = None


class _HiredisParser:
    """hiredis behind the interface of RespReplyParser."""

    __slots__ = ("_reader",)

    def __init__(self) -> None:
        self._reader = hiredis.Reader(protocolError=RespProtocolError, replyError=ReplyError)

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)

    def get(self) -> Any:
        reply = self._reader.gets()
        return INCOMPLETE if reply is False else reply


def new_parser() -> Any:
    """A reply parser (``feed(bytes)``, ``get() -> reply | INCOMPLETE``)."""
    return _HiredisParser() if hiredis is not None else RespReplyParser()


def raise_for(reply: Any, *, allow: type[ServerError] | None = None) -> Any:
    """The reply, or the exception an error reply maps to (through ``ERROR_CLASSES``).

    An error of class ``allow`` is no failure for the caller: it comes back as ``None``.
    """
    if reply.__class__ is ReplyError:
        error = error_from_reply(reply.message)
        if allow is None or not isinstance(error, allow):
            raise error
        return None
    return reply


def to_bytes(value: bytes | str | int) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int) and not isinstance(value, bool):
        return b"%d" % value
    raise TypeError(f"session values are bytes or str, not {type(value).__name__}")


def pairs(reply: Any) -> dict[str, bytes]:
    """A flat [k1, v1, k2, v2, ...] reply as {key: value}."""
    if not isinstance(reply, list) or len(reply) % 2:
        raise ProtocolError(f"expected a flat key/value array, got {reply!r:.80}")
    keys, values = reply[::2], reply[1::2]
    return {k.decode(errors="surrogateescape"): v for k, v in zip(keys, values, strict=True)}


def info(reply: Any) -> dict[str, str]:
    """A ``HELLO`` reply as {name: text}; values that are not scalars (Redis lists its
    modules) are left out."""
    if not isinstance(reply, list) or len(reply) % 2:
        raise ProtocolError(f"expected a flat name/value array, got {reply!r:.80}")
    out: dict[str, str] = {}
    for name, value in zip(reply[::2], reply[1::2], strict=True):
        if isinstance(name, bytes) and isinstance(value, bytes | int):
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            out[name.decode(errors="replace")] = text
    return out


def strs(reply: Any) -> list[str]:
    if not isinstance(reply, list):
        raise ProtocolError(f"expected an array, got {reply!r:.80}")
    return [item.decode(errors="surrogateescape") for item in reply]


def flatten(changes: Mapping[str, bytes | str | int]) -> list[bytes]:
    out: list[bytes] = []
    for key, value in changes.items():
        out.append(key.encode())
        out.append(to_bytes(value))
    return out


def keys_of(keys: Iterable[str]) -> list[bytes]:
    return [key.encode() for key in keys]
