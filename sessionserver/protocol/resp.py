"""The RESP2 framing: what Redis clients speak, binary-safe, both sides of the wire.

A request is an array of bulk strings (``*2\\r\\n$3\\r\\nget\\r\\n$3\\r\\nfoo\\r\\n``); a reply is
a simple string, an error, an integer, a bulk string (or null) or an array of those.  The same
command names and meanings hold as in the text framing; only the encoding differs:

===================  ===============================  =========================
result               text framing                     RESP2
===================  ===============================  =========================
ok (``None``)        ``ok``                           ``+OK``
a value (bytes)      ``ok <value>``                   bulk string
a count (int)        ``ok <n>``                       integer
keys (list)          ``ok k1|k2``                     array of bulk strings
a session (dict)     ``ok <PHP serialize()>``         flat array k1, v1, k2, v2
an error             ``err <message>``                ``-ERR <message>``
===================  ===============================  =========================

:class:`RespServerCodec` parses requests, :func:`encode_reply` encodes results;
:func:`encode_request` and :class:`RespReplyParser` are the client's half.  A request the codec
cannot parse leaves the stream position unknown, so it is answered and the connection closed
(as Redis does); that is the one difference from the text framing's "answer and go on".
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from ..exceptions import ProtocolError
from .commands import PROTOCOL_ERROR
from .replies import Err, Raw, Timed

__all__ = [
    "DEFAULT_MAX_ARGS",
    "PROTOCOL_ERROR",
    "RespProtocolError",
    "RespReplyParser",
    "RespServerCodec",
    "encode_reply",
    "encode_request",
]


class RespProtocolError(ProtocolError):
    """The peer sent bytes that are not RESP2 (client side: a malformed reply)."""


def _err(message: str) -> Err:
    return Err("protocol_error", message)


_BAD_ARRAY = _err("Protocol error: expected '*', an array of bulk strings.")
_BAD_BULK = _err("Protocol error: expected '$', a bulk string.")
_BAD_LENGTH = _err("Protocol error: invalid length.")
_TOO_MANY = _err("Protocol error: too many arguments.")
_TOO_LONG = _err("Protocol error: request too large.")


#: Longest header line (``*N`` or ``$N``) there is any point in waiting for the end of.
_MAX_HEADER = 24
#: Most arguments of one request by default; the daemon derives its own from ``--max-keys``.
DEFAULT_MAX_ARGS = 4096

#: The array headers of requests of up to 256 arguments (canonical only) and their counts,
#: and the bulk string headers of short strings: the fast path looks them up rather than
#: parse or format them.
_COUNTS = {b"*%d" % n: n for n in range(1, 257)}
_BULKS = [b"$%d" % n for n in range(4096)]


def _split(buf: bytes, max_args: int, max_request: int) -> tuple[list[list[bytes]], int]:
    """The fast path: the complete requests at the start of ``buf`` and the bytes they take.

    Splitting the whole buffer at CR-LF in one C call turns each request into its tokens
    (``*N``, then ``$len`` and the data, N times) whenever no bulk string holds a CR-LF
    itself.  The headers are looked up in :data:`_COUNTS` and the tokens taken on trust,
    then the lengths are checked all at once against the data they precede: a canonical
    encoding has only one parse, so the check passing means the exact parser would find the
    same requests.  Anything else (a CR-LF inside a value, a request cut short, many
    arguments, bytes that are not RESP2) ends the fast path where it is, or fails its check,
    and the exact parser goes on from there.
    """
    tokens = buf.split(b"\r\n")
    last = len(tokens) - 1  # the token after the final CR-LF: incomplete, or b""
    counts = _COUNTS
    requests: list[list[bytes]] = []
    lengths: list[bytes] = []
    i = 0
    while i < last:
        n = counts.get(tokens[i])
        if n is None:
            break
        end = i + 1 + 2 * n
        if end > last or n > max_args:
            break
        requests.append(tokens[i + 2 : end : 2])
        lengths += tokens[i + 1 : end : 2]
        i = end
    if not requests:
        return requests, 0
    try:
        expected = list(map(_BULKS.__getitem__, map(len, chain.from_iterable(requests))))
    except IndexError:  # a long string
        expected = [b"$%d" % len(arg) for arg in chain.from_iterable(requests)]
    if lengths != expected:
        return [], 0
    if len(buf) > max_request and max(sum(map(len, request)) for request in requests) > max_request:
        return [], 0  # the exact parser answers the requests before it, then refuses it
    if i == last:
        return requests, len(buf) - len(tokens[last])
    return requests, sum(map(len, tokens[:i])) + 2 * i


class RespServerCodec:
    """Incremental parser for RESP2 request arrays; any chunking, any pipelining.

    :meth:`feed` returns each complete request as a list of bytes (``[name, arg, ...]``).  A
    request that cannot be parsed becomes ``[PROTOCOL_ERROR, err]`` and everything after it is
    ignored.  ``max_request`` bounds the bytes of one request's arguments, ``max_args`` their
    number.

    Nothing is allocated or done in proportion to what a header claims: a count or a length
    is checked against the limits as soon as its header line is complete, a request's
    arguments are collected as their bytes arrive, and while a bulk string is incomplete the
    chunks are only queued (joined once, when enough have come), so a request trickling in
    byte by byte costs time linear in its size.
    """

    __slots__ = (
        "_args",
        "_chunks",
        "_left",
        "_need",
        "_pending",
        "_size",
        "broken",
        "max_args",
        "max_request",
    )

    def __init__(
        self, max_request: int = 8 * 1024 * 1024, max_args: int = DEFAULT_MAX_ARGS
    ) -> None:
        self.max_request = max_request
        self.max_args = max_args
        #: Received bytes not parsed yet, and how many.
        self._chunks: list[bytes] = []
        self._pending = 0
        #: Parse again only once this many bytes are pending (the rest of a bulk string).
        self._need = 0
        #: The request being read: its arguments so far, how many are still to come (-1: its
        #: array header is still to come), and the bytes of its arguments.
        self._args: list[bytes] = []
        self._left = -1
        self._size = 0
        self.broken = False

    @property
    def buffered(self) -> int:
        """Bytes held for requests not complete yet."""
        return self._pending + self._size

    def feed(self, data: bytes) -> list[list[Any]]:
        """Parse ``data``; return the requests it completes (see the class docstring)."""
        if self._chunks or self._left >= 0 or self.broken:
            return self._feed_partial(data)
        requests, pos = _split(data, self.max_args, self.max_request)
        if pos == len(data):
            return requests
        return self._parse(data, pos, requests)

    def feed_one(self, data: bytes) -> list[list[Any]]:
        """Like :meth:`feed`, but parse at most one request and keep the rest buffered, for a
        connection whose limits change after a request (the one that authenticates it).
        ``feed_one(b"")`` parses the next buffered request, :meth:`resume` all of them."""
        return self._feed_partial(data, 1)

    def resume(self) -> list[list[Any]]:
        """The requests complete in what :meth:`feed_one` left buffered."""
        return self._feed_partial(b"") if self._chunks else []

    def _feed_partial(self, data: bytes, limit: int = -1) -> list[list[Any]]:
        if self.broken:
            return []
        if data:
            self._chunks.append(data)
            self._pending += len(data)
        if self._pending < self._need or not self._chunks:
            return []
        buf = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks.clear()
        self._pending = 0
        self._need = 0
        return self._parse(buf, 0, [], limit)

    def _parse(
        self, buf: bytes, pos: int, requests: list[list[Any]], limit: int = -1
    ) -> list[list[Any]]:
        """The exact parser, from ``pos``, resuming the request in progress if any; it stops
        after ``limit`` requests when that is positive."""
        end = len(buf)
        find = buf.find
        args = self._args
        left = self._left
        size = self._size
        while pos < end:
            if left < 0:  # an array header: *N CR LF
                if buf[pos] != 42:  # "*"
                    return self._fail(_BAD_ARRAY, requests)
                nl = find(b"\r\n", pos, pos + _MAX_HEADER)
                if nl < 0:
                    if end - pos >= _MAX_HEADER:
                        return self._fail(_BAD_LENGTH, requests)
                    break
                left = _length(buf, pos + 1, nl)
                if left < 0:
                    return self._fail(_BAD_LENGTH, requests)
                if left > self.max_args:
                    return self._fail(_TOO_MANY, requests)
                pos = nl + 2
                args = []
                size = 0
            elif left:  # a bulk string: $L CR LF, L bytes, CR LF
                if buf[pos] != 36:  # "$"
                    return self._fail(_BAD_BULK, requests)
                nl = find(b"\r\n", pos, pos + _MAX_HEADER)
                if nl < 0:
                    if end - pos >= _MAX_HEADER:
                        return self._fail(_BAD_LENGTH, requests)
                    break
                length = _length(buf, pos + 1, nl)
                if length < 0:
                    return self._fail(_BAD_LENGTH, requests)
                if size + length > self.max_request:
                    return self._fail(_TOO_LONG, requests)
                stop = nl + 2 + length
                if stop + 2 > end:
                    self._need = stop + 2 - pos  # no parsing until that much is here
                    break
                if buf[stop : stop + 2] != b"\r\n":
                    return self._fail(_BAD_LENGTH, requests)
                args.append(buf[nl + 2 : stop])
                size += length
                left -= 1
                pos = stop + 2
            if not left:
                args_done = args
                args = []
                left = -1
                size = 0
                if args_done:  # "*0" is an empty request: nothing to answer
                    requests.append(args_done)
                    if len(requests) == limit:
                        break
        self._args = args
        self._left = left
        self._size = size
        if pos < end:
            rest = buf[pos:]
            self._chunks.append(rest)
            self._pending = len(rest)
        return requests

    def _fail(self, err: Err, done: list[list[Any]]) -> list[list[Any]]:
        self.broken = True
        self._chunks.clear()
        self._pending = 0
        self._args = []
        return [*done, [PROTOCOL_ERROR, err]]


def _length(buf: bytes, start: int, end: int) -> int:
    """The decimal between start and end, or -1 if it is not one in canonical form (no sign,
    no spaces, no leading zeros: what Redis accepts)."""
    token = buf[start:end]
    if not token or len(token) > 18 or not token.isdigit() or (token[0] == 48 and end - start > 1):
        return -1
    return int(token)


def encode_reply(result: Any) -> bytes:
    """Encode a dispatcher result as a RESP2 reply (see the module docstring)."""
    if result is None:
        return b"+OK\r\n"
    cls = result.__class__
    if cls is bytes:
        return b"$%d\r\n%s\r\n" % (len(result), result)
    if cls is Err:
        resp: bytes = result.resp
        return resp
    if cls is list:
        return b"*%d\r\n" % len(result) + b"".join(
            [b"$%d\r\n%s\r\n" % (len(item), item) for item in result]
        )
    if cls is dict:
        return _flat_pairs([b"*%d\r\n" % (2 * len(result))], result)
    if cls is int:
        return b":%d\r\n" % result
    if cls is Raw:
        raw: bytes = result.resp
        return raw
    if cls is Timed:
        head = b":%d\r\n" % result.seconds
        pairs = result.value
        if pairs is None:
            return head
        return _flat_pairs([b"*%d\r\n" % (2 * len(pairs) + 1), head], pairs)
    raise TypeError(f"cannot encode {cls.__name__} as a reply")


def _flat_pairs(parts: list[bytes], pairs: dict[bytes, bytes]) -> bytes:
    for key, value in pairs.items():
        parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
    return b"".join(parts)


def encode_request(*args: bytes | str | int) -> bytes:
    """One request as a RESP2 array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else b"%d" % arg if isinstance(arg, int) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


class ReplyError(Exception):
    """An error reply as the client sees it: a value, never raised (the client maps it to an
    exception of its own).  An Exception subclass because hiredis wants one for replyError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReplyError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"ReplyError({self.message!r})"


class RespReplyParser:
    """Incremental parser for RESP2 replies (the client's half).

    :meth:`feed` buffers bytes; :meth:`get` returns the next complete reply or the
    :data:`INCOMPLETE` sentinel.  Simple strings and bulk strings are bytes, errors
    :class:`ReplyError`, integers int, null None, arrays lists.

    Raises:
        RespProtocolError: from :meth:`get`, on bytes that are not RESP2.
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            self._buf = self._buf[self._pos :] + data
            self._pos = 0
        else:
            self._buf += data

    def get(self) -> Any:
        try:
            value, pos = self._parse(self._pos)
        except _Incomplete:
            return INCOMPLETE
        self._pos = pos
        return value

    def _parse(self, pos: int) -> tuple[Any, int]:
        buf = self._buf
        nl = buf.find(b"\r\n", pos)
        if nl < 0:
            raise _Incomplete
        kind = buf[pos : pos + 1]
        body = buf[pos + 1 : nl]
        after = nl + 2
        if kind == b"+":
            return body, after
        if kind == b"-":
            return ReplyError(body.decode(errors="replace")), after
        if kind == b":":
            return self._int(body), after
        if kind == b"$":
            size = self._int(body)
            if size == -1:
                return None, after
            if size < 0:
                raise RespProtocolError(f"bad bulk length {body!r}")
            if after + size + 2 > len(buf):
                raise _Incomplete
            if buf[after + size : after + size + 2] != b"\r\n":
                raise RespProtocolError("bulk string not followed by CRLF")
            return buf[after : after + size], after + size + 2
        if kind == b"*":
            count = self._int(body)
            if count == -1:
                return None, after
            if count < 0:
                raise RespProtocolError(f"bad array length {body!r}")
            items = []
            for _ in range(count):
                item, after = self._parse(after)
                items.append(item)
            return items, after
        raise RespProtocolError(f"unknown reply type {kind!r}")

    @staticmethod
    def _int(body: bytes) -> int:
        try:
            return int(body)
        except ValueError:
            raise RespProtocolError(f"bad integer {body!r}") from None


class _Incomplete(Exception):
    pass


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: :meth:`RespReplyParser.get` found no complete reply yet.
INCOMPLETE: Any = _Sentinel("INCOMPLETE")
