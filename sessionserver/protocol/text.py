"""The text framing: the original session server's line protocol, both sides of the wire.

Requests are lines ending in ``\\n`` (a ``\\r`` before it is dropped).  A line splits at single
spaces into at most three parts, command, first argument and the rest of the line, so a value
keeps its inner spaces.  Replies are ``ok``, ``ok <value>`` or ``err <message>``, each ending in
``\\r\\n``.

:class:`TextServerCodec` turns received bytes into request lists (``[command, arg, rest]``) and
:func:`encode_reply` turns a dispatcher result into reply bytes.  :class:`TextClientCodec` is the
mirror image for clients.  Nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

from .. import phpserialize
from .commands import CODEC_ERROR
from .replies import (
    GET_ALL_FAILED,
    INVALID_UTF8,
    KEYS_FAILED,
    LINE_TOO_LONG,
    NOT_TEXT,
    NUL_BYTE,
    Err,
    Raw,
    Timed,
)

__all__ = [
    "CODEC_ERROR",
    "DEFAULT_MAX_LINE",
    "TextClientCodec",
    "TextServerCodec",
    "encode_reply",
]


#: Longest request line accepted by default (a ``put_all`` carries a whole session).
DEFAULT_MAX_LINE = 8 * 1024 * 1024

Request = list[Any]


class TextServerCodec:
    """Incremental parser for request lines; pipelining and any chunking are fine.

    :meth:`feed` returns every complete request in the bytes received so far, in order.  A line
    that is too long, is not UTF-8 or holds a NUL byte becomes ``[CODEC_ERROR, err]`` so that
    the connection answers it in its turn and goes on.  An over-long line is answered as soon
    as it passes the limit; the rest of it is then discarded without being buffered.
    """

    __slots__ = ("_chunks", "_discarding", "_pending", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._chunks: list[bytes] = []
        self._pending = 0
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete line held back."""
        return self._pending

    def feed(self, data: bytes) -> list[Request]:
        """Parse ``data``; return the requests completed by it."""
        if self._chunks or self._discarding:
            return self._feed_partial(data)
        # ``0 in data`` (an int) is a memchr; ``b"\x00" in data`` is several times slower.
        if (
            data
            and data[-1] == 10
            and data.isascii()
            and 0 not in data
            and (len(data) <= self.max_line)
        ):
            # The common case, whole clean lines: validate the chunk at once, not line by line.
            # Only CR-LF pairs end lines; a lone CR inside a value is data.
            lines = data.replace(b"\r\n", b"\n").split(b"\n")
            lines.pop()
            return [line.split(b" ", 2) for line in lines]
        lines = data.split(b"\n")
        tail = lines.pop()
        if tail:
            if len(tail) > self.max_line:
                self._discarding = True
                lines.append(tail)  # parsed below as too long; the rest of it is discarded
            else:
                self._chunks.append(tail)
                self._pending = len(tail)
        return self._parse(lines, len(data) > self.max_line)

    def feed_one(self, data: bytes) -> list[Request]:
        """Like :meth:`feed`, but parse at most one line and keep the rest buffered, for a
        connection whose limits change after a request (the one that authenticates it).
        ``feed_one(b"")`` parses the next buffered line, :meth:`resume` all of them.  Callers
        feed it pieces of a bounded size: each call copies what stays buffered."""
        if self._discarding:
            return self._feed_partial(data)
        if data:
            self._chunks.append(data)
            self._pending += len(data)
        if not self._chunks:
            return []
        buf = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks.clear()
        self._pending = 0
        newline = buf.find(b"\n")
        if newline < 0:
            return self._feed_partial(buf)
        rest = buf[newline + 1 :]
        if rest:
            self._chunks.append(rest)
            self._pending = len(rest)
        return self._parse([buf[:newline]], True)

    def resume(self) -> list[Request]:
        """The requests complete in what :meth:`feed_one` left buffered."""
        if not self._chunks:
            return []
        buf = b"".join(self._chunks)
        self._chunks.clear()
        self._pending = 0
        return self.feed(buf)

    def _feed_partial(self, data: bytes) -> list[Request]:
        newline = data.find(b"\n")
        if newline < 0:
            if not self._discarding:
                self._chunks.append(data)
                self._pending += len(data)
                if self._pending > self.max_line:
                    self._chunks.clear()
                    self._pending = 0
                    self._discarding = True
                    return [[CODEC_ERROR, LINE_TOO_LONG]]
            return []
        requests: list[Request] = []
        if self._discarding:
            self._discarding = False
        else:
            self._chunks.append(data[:newline])
            line = b"".join(self._chunks)
            self._chunks.clear()
            self._pending = 0
            requests = self._parse([line], True)
        rest = data[newline + 1 :]
        if rest:
            requests.extend(self.feed(rest))
        return requests

    def _parse(self, lines: list[bytes], check_length: bool) -> list[Request]:
        requests: list[Request] = []
        append = requests.append
        max_line = self.max_line
        for line in lines:
            if line and line[-1] == 13:  # b"\r"
                line = line[:-1]
            if check_length and len(line) > max_line:
                append([CODEC_ERROR, LINE_TOO_LONG])
                continue
            if not line.isascii():
                try:
                    line.decode()
                except UnicodeDecodeError:
                    append([CODEC_ERROR, INVALID_UTF8])
                    continue
            if 0 in line:
                append([CODEC_ERROR, NUL_BYTE])
                continue
            append(line.split(b" ", 2))
        return requests


_OK = b"ok\r\n"


def _not_text(data: bytes) -> bool:
    """Whether ``data`` cannot go on a text line: a line break, or bytes that are not UTF-8
    (values set over RESP2 are binary-safe; the text framing is not)."""
    if 10 in data:
        return True
    if data.isascii():
        return False
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False


def encode_reply(result: Any) -> bytes:
    """Encode a dispatcher result as a reply line.

    ``None`` is a bare ``ok``; bytes and ints are ``ok <value>``; a list of keys is joined with
    ``|``; a dict (a whole session) is PHP ``serialize()`` text; an :class:`Err` is its line.
    A value the text framing cannot carry becomes an error (``get``: ``err Value is not text;
    use the RESP framing.``; ``keys``, ``get_all``: the original's failure replies).
    """
    if result is None:
        return _OK
    cls = result.__class__
    if cls is bytes:
        if _not_text(result):
            return NOT_TEXT.text
        line: bytes = b"ok " + result + b"\r\n"
        return line
    if cls is Err:
        text: bytes = result.text
        return text
    if cls is list:
        joined = b"|".join(result)
        return KEYS_FAILED.text if _not_text(joined) else b"ok " + joined + b"\r\n"
    if cls is dict:
        body = phpserialize.dumps(result)
        return GET_ALL_FAILED.text if _not_text(body) else b"ok " + body + b"\r\n"
    if cls is int:
        return b"ok %d\r\n" % result
    if cls is Raw:
        raw: bytes = result.text
        return raw
    if cls is Timed:
        if result.value is None:
            return b"ok %d\r\n" % result.seconds
        line = encode_reply(result.value)
        return line if line[:1] == b"e" else b"ok %d %s" % (result.seconds, line[3:])
    raise TypeError(f"cannot encode {cls.__name__} as a reply")


class TextClientCodec:
    """The client side: encode request lines, parse reply lines.

    :meth:`feed` returns ``(ok, value)`` pairs: ``ok`` is False for an ``err`` reply, and
    ``value`` is the text after ``ok ``/``err `` (``None`` for a bare ``ok``).
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    @staticmethod
    def encode(*parts: bytes | str) -> bytes:
        """One request line; parts are joined by single spaces."""
        raw = [p.encode() if isinstance(p, str) else p for p in parts]
        line = b" ".join(raw)
        if b"\n" in line or b"\r" in line:
            raise ValueError("a request line cannot contain CR or LF")
        return line + b"\r\n"

    def feed(self, data: bytes) -> list[tuple[bool, bytes | None]]:
        """Parse reply bytes; return the replies they complete."""
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        replies: list[tuple[bool, bytes | None]] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if line == b"ok":
                replies.append((True, None))
            elif line.startswith(b"ok "):
                replies.append((True, line[3:]))
            elif line.startswith(b"err "):
                replies.append((False, line[4:]))
            else:
                raise ValueError(f"malformed reply line: {line[:80]!r}")
        return replies
