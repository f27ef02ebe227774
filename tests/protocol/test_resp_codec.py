"""The RESP2 codec from one table of cases: both directions, whole, byte by byte, trailing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionserver.protocol import replies as R
from sessionserver.protocol.resp import (
    INCOMPLETE,
    PROTOCOL_ERROR,
    ReplyError,
    RespProtocolError,
    RespReplyParser,
    RespServerCodec,
    encode_reply,
    encode_request,
)

# (request arguments, bytes on the wire)
REQUESTS: list[tuple[list[bytes], bytes]] = [
    ([b"new"], b"*1\r\n$3\r\nnew\r\n"),
    ([b"put", b"k", b"a  b"], b"*3\r\n$3\r\nput\r\n$1\r\nk\r\n$4\r\na  b\r\n"),
    ([b"put", b"k", b""], b"*3\r\n$3\r\nput\r\n$1\r\nk\r\n$0\r\n\r\n"),
    ([b"put", b"k", b"\x00\r\n\xff"], b"*3\r\n$3\r\nput\r\n$1\r\nk\r\n$4\r\n\x00\r\n\xff\r\n"),
    ([b"GET", "ключ".encode()], b"*2\r\n$3\r\nGET\r\n$8\r\n" + "ключ".encode() + b"\r\n"),
]


def feed_whole(wire: bytes, **limits: int) -> list[list[Any]]:
    return RespServerCodec(**limits).feed(wire)


def feed_bytewise(wire: bytes, **limits: int) -> list[list[Any]]:
    codec = RespServerCodec(**limits)
    out: list[list[Any]] = []
    for i in range(len(wire)):
        out.extend(codec.feed(wire[i : i + 1]))
    return out


FEEDS = [feed_whole, feed_bytewise]


@pytest.mark.parametrize(("args", "wire"), REQUESTS)
@pytest.mark.parametrize("feed", FEEDS)
def test_requests_both_ways(args: list[bytes], wire: bytes, feed: Any) -> None:
    assert encode_request(*args) == wire
    assert feed(wire) == [args]


@pytest.mark.parametrize(("args", "wire"), REQUESTS)
def test_trailing_bytes_stay_buffered(args: list[bytes], wire: bytes) -> None:
    codec = RespServerCodec()
    assert codec.feed(wire + b"*1\r\n$4\r\npi") == [args]
    assert codec.buffered
    assert codec.feed(b"ng\r\n") == [[b"ping"]]
    assert codec.buffered == 0


def test_pipelined_and_empty_arrays() -> None:
    wire = b"*0\r\n" + b"".join(w for _, w in REQUESTS) + b"*0\r\n"
    for feed in FEEDS:
        assert feed(wire) == [a for a, _ in REQUESTS]


def test_a_value_holding_crlf_among_plain_requests() -> None:
    plain = encode_request(b"get", b"k")
    wire = plain + encode_request(b"put", b"k", b"a\r\n$1\r\nb") + plain
    assert feed_whole(wire) == [[b"get", b"k"], [b"put", b"k", b"a\r\n$1\r\nb"], [b"get", b"k"]]


def test_encode_request_takes_str_and_int() -> None:
    assert encode_request("write", b"id", 2) == b"*3\r\n$5\r\nwrite\r\n$2\r\nid\r\n$1\r\n2\r\n"


@pytest.mark.parametrize(
    "wire",
    [
        b"get foo\r\n",  # inline command: not RESP2
        b"*x\r\n",
        b"*-1\r\n",
        b"*+1\r\n$4\r\nping\r\n",
        b"*01\r\n$4\r\nping\r\n",
        b"* 1\r\n$4\r\nping\r\n",
        b"*1\r\n:3\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n*1\r\n$1\r\na\r\n",  # nested
        b"*1\r\n$3\r\nabcX\r\n",
        b"*1\r\n$3\r\nabcXY",  # the CR-LF after the data is checked
        b"*1\r\n$ 3\r\nabc\r\n",
        b"*1\r\n$+3\r\nabc\r\n",
        b"*" + b"9" * 40,
        b"*1\r\n$" + b"9" * 40,
    ],
)
@pytest.mark.parametrize("feed", FEEDS)
def test_malformed_requests_end_the_stream(wire: bytes, feed: Any) -> None:
    good = b"*1\r\n$4\r\nping\r\n"
    result = feed(good + wire + good + good)
    assert result[0] == [b"ping"]
    assert result[-1][0] == PROTOCOL_ERROR  # nothing after the error is parsed
    assert len(result) == 2


def test_a_broken_stream_stays_broken() -> None:
    codec = RespServerCodec()
    assert codec.feed(b"*x\r\n")[0][0] == PROTOCOL_ERROR
    assert codec.feed(b"*1\r\n$4\r\nping\r\n") == []


@pytest.mark.parametrize("feed", FEEDS)
def test_limits(feed: Any) -> None:
    out = feed(b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", max_request=100, max_args=2)
    assert out == [[PROTOCOL_ERROR, out[0][1]]] and "too many arguments" in out[0][1].message
    out = feed(b"*2\r\n$3\r\nput\r\n$200\r\n" + b"x" * 200 + b"\r\n", max_request=100)
    assert out[0][0] == PROTOCOL_ERROR and "too large" in out[0][1].message
    # the limit is on the sum of a request's arguments
    out = feed(b"*3\r\n$3\r\nput\r\n$50\r\n" + b"x" * 50 + b"\r\n$50\r\n", max_request=100)
    assert out[0][0] == PROTOCOL_ERROR and "too large" in out[0][1].message
    wire = encode_request(b"put", b"k", b"x" * 90)
    assert feed(wire, max_request=100) == [[b"put", b"k", b"x" * 90]]


@pytest.mark.parametrize(
    "header",
    [b"*2147483647\r\n", b"*4097\r\n", b"*1\r\n$2147483647\r\n", b"*1\r\n$8388609\r\n"],
)
def test_headers_are_checked_before_their_bytes_arrive(header: bytes) -> None:
    """A count or a length beyond the limits is refused as soon as its header line is
    complete: nothing is allocated or waited for on the strength of a claim."""
    codec = RespServerCodec(max_request=8 * 1024 * 1024, max_args=4096)
    out = codec.feed(header)
    assert out and out[-1][0] == PROTOCOL_ERROR
    assert codec.buffered == 0


@pytest.mark.timeout(60)
def test_a_large_request_trickling_in_costs_linear_time() -> None:
    """A bulk string arriving in small pieces is joined once, and a request of many
    arguments arriving one piece at a time is parsed once: a quadratic parser would take
    hours here (65,536 pieces of 8 MiB; 100,000 arguments)."""
    value = b"v" * (8 * 1024 * 1024 - 16)
    wire = encode_request(b"put", b"k", value)
    codec = RespServerCodec()
    out: list[list[Any]] = []
    for i in range(0, len(wire), 128):
        out.extend(codec.feed(wire[i : i + 128]))
    assert out == [[b"put", b"k", value]]
    args = [b"%d" % i for i in range(100_000)]
    wire = encode_request(*args)
    codec = RespServerCodec(max_args=100_000)
    out = []
    for i in range(0, len(wire), 7):
        out.extend(codec.feed(wire[i : i + 7]))
    assert out == [args]


# (reply value, wire, what a client parses it to)
REPLIES: list[tuple[Any, bytes, Any]] = [
    (None, b"+OK\r\n", b"OK"),
    (b"", b"$0\r\n\r\n", b""),
    (b"bar\r\n", b"$5\r\nbar\r\n\r\n", b"bar\r\n"),
    (7, b":7\r\n", 7),
    ([b"foo", b"today"], b"*2\r\n$3\r\nfoo\r\n$5\r\ntoday\r\n", [b"foo", b"today"]),
    ([], b"*0\r\n", []),
    ({b"a": b"1"}, b"*2\r\n$1\r\na\r\n$1\r\n1\r\n", [b"a", b"1"]),
    (R.NO_SESSION, b"-ERR No session opened.\r\n", ReplyError("ERR No session opened.")),
]


@pytest.mark.parametrize(("value", "wire", "parsed"), REPLIES)
def test_replies_both_ways(value: Any, wire: bytes, parsed: Any) -> None:
    assert encode_reply(value) == wire
    whole = RespReplyParser()
    whole.feed(wire + b"+OK\r\n")
    assert whole.get() == parsed
    assert whole.get() == b"OK"
    assert whole.get() is INCOMPLETE
    bytewise = RespReplyParser()
    got = []
    for i in range(len(wire)):
        bytewise.feed(wire[i : i + 1])
        if (reply := bytewise.get()) is not INCOMPLETE:
            got.append(reply)
    assert got == [parsed]


def test_reply_parser_handles_nulls_and_nesting() -> None:
    parser = RespReplyParser()
    parser.feed(b"$-1\r\n*-1\r\n*2\r\n*1\r\n:1\r\n$1\r\nx\r\n")
    assert parser.get() is None
    assert parser.get() is None
    assert parser.get() == [[1], b"x"]


@pytest.mark.parametrize("wire", [b"?what\r\n", b":x\r\n", b"$-5\r\n", b"$1\r\nab\r\n"])
def test_reply_parser_rejects_what_is_not_resp2(wire: bytes) -> None:
    parser = RespReplyParser()
    parser.feed(wire)
    with pytest.raises(RespProtocolError):
        parser.get()


@given(st.lists(st.binary(max_size=30), min_size=1, max_size=8), st.integers(1, 16))
def test_fuzz_round_trip_in_any_chunks(args: list[bytes], chunk: int) -> None:
    wire = encode_request(*args) * 2
    codec = RespServerCodec()
    out: list[list[Any]] = []
    for i in range(0, len(wire), chunk):
        out.extend(codec.feed(wire[i : i + chunk]))
    assert out == [args, args]


@given(st.binary(max_size=400), st.integers(1, 64))
def test_fuzz_never_raises_and_any_chunking_agrees(data: bytes, chunk: int) -> None:
    """Junk gives requests of bytes or one protocol error; the fast path (a whole buffer) and
    the exact parser (pieces) find the same requests."""
    whole = feed_whole(data, max_request=1000)
    codec = RespServerCodec(max_request=1000)
    pieces: list[list[Any]] = []
    for i in range(0, len(data), chunk):
        pieces.extend(codec.feed(data[i : i + chunk]))
    for request in whole:
        assert request[0] == PROTOCOL_ERROR or all(isinstance(a, bytes) for a in request)
    ok = [r for r in whole if r[0] != PROTOCOL_ERROR]
    assert [r for r in pieces if r[0] != PROTOCOL_ERROR] == ok
    assert [r[0] for r in whole if r[0] == PROTOCOL_ERROR] == [
        r[0] for r in pieces if r[0] == PROTOCOL_ERROR
    ]


@given(st.binary(max_size=400))
def test_fuzz_reply_parser_raises_only_its_protocol_error(data: bytes) -> None:
    parser = RespReplyParser()
    parser.feed(data)
    try:
        while parser.get() is not INCOMPLETE:
            pass
    except RespProtocolError:
        pass
