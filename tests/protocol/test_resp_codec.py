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
    HiredisServerCodec,
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


#: Both request parsers (pure Python, hiredis) must behave the same on every case.
CODECS = [RespServerCodec, HiredisServerCodec]


@pytest.fixture(params=CODECS, ids=["pure", "hiredis"])
def codec_class(request: pytest.FixtureRequest) -> Any:
    return request.param


def feed_whole(codec_class: Any, wire: bytes) -> list[list[Any]]:
    return codec_class().feed(wire)  # type: ignore[no-any-return]


def feed_bytewise(codec_class: Any, wire: bytes) -> list[list[Any]]:
    codec = codec_class()
    out: list[list[Any]] = []
    for i in range(len(wire)):
        out.extend(codec.feed(wire[i : i + 1]))
    return out


@pytest.mark.parametrize(("args", "wire"), REQUESTS)
@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_requests_both_ways(codec_class: Any, args: list[bytes], wire: bytes, feed: Any) -> None:
    assert encode_request(*args) == wire
    assert feed(codec_class, wire) == [args]


@pytest.mark.parametrize(("args", "wire"), REQUESTS)
def test_trailing_bytes_stay_buffered(codec_class: Any, args: list[bytes], wire: bytes) -> None:
    codec = codec_class()
    tail = b"*1\r\n$4\r\npi"
    assert codec.feed(wire + tail) == [args]
    if codec_class is RespServerCodec:  # hiredis compacts its buffer lazily
        assert codec.buffered == len(tail)
    assert codec.feed(b"ng\r\n") == [[b"ping"]]


def test_pipelined_and_empty_arrays(codec_class: Any) -> None:
    wire = b"*0\r\n" + b"".join(w for _, w in REQUESTS)
    assert feed_whole(codec_class, wire) == [a for a, _ in REQUESTS]


def test_encode_request_takes_str_and_int() -> None:
    assert encode_request("write", b"id", 2) == b"*3\r\n$5\r\nwrite\r\n$2\r\nid\r\n$1\r\n2\r\n"


@pytest.mark.parametrize(
    "wire",
    [
        b"get foo\r\n",  # inline command: not RESP2
        b"*x\r\n",
        b"*-1\r\n",
        b"*1\r\n:3\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$3\r\nabcX\r\n",
        b"*1\r\n$ 3\r\nabc\r\n",
        b"*" + b"9" * 40,
    ],
)
def test_malformed_requests_end_the_stream(codec_class: Any, wire: bytes) -> None:
    codec = codec_class()
    good = b"*1\r\n$4\r\nping\r\n"
    result = codec.feed(good + wire + good + good)
    assert result[0] == [b"ping"]
    # The error ends the stream: nothing after it is parsed.  (hiredis does not check the
    # CR-LF after a bulk string, so it may hand over one garbled request before it fails.)
    assert result[-1][0] == PROTOCOL_ERROR
    assert len(result) == 2 or (codec_class is HiredisServerCodec and len(result) == 3)
    assert codec.feed(good) == []


def test_limits(codec_class: Any) -> None:
    codec = codec_class(max_request=100, max_args=2)
    assert codec.feed(b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")[0][0] == PROTOCOL_ERROR
    codec = codec_class(max_request=100)
    out = codec.feed(b"*1\r\n$5000\r\n" + b"x" * 3000)
    assert out and out[0][0] == PROTOCOL_ERROR  # over the limit before it is complete
    codec = codec_class(max_request=100)
    out = codec.feed(b"*2\r\n$3\r\nput\r\n$200\r\n" + b"x" * 200 + b"\r\n")
    assert out and out[0][0] == PROTOCOL_ERROR  # over the limit, arrived complete


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
    for codec in (RespServerCodec(), HiredisServerCodec()):
        out: list[list[Any]] = []
        for i in range(0, len(wire), chunk):
            out.extend(codec.feed(wire[i : i + chunk]))
        assert out == [args, args]


@given(st.binary(max_size=400))
def test_fuzz_server_codecs_never_raise_and_agree(data: bytes) -> None:
    pure = RespServerCodec(max_request=1000).feed(data)
    fast = HiredisServerCodec(max_request=1000).feed(data)
    for request in pure + fast:
        assert request[0] == PROTOCOL_ERROR or all(isinstance(a, bytes) for a in request)
    # the same requests before any error (the messages may differ)
    ok = [r for r in pure if r[0] != PROTOCOL_ERROR]
    assert [r for r in fast if r[0] != PROTOCOL_ERROR][: len(ok)] == ok[: len(fast)]


@given(st.binary(max_size=400))
def test_fuzz_reply_parser_raises_only_its_protocol_error(data: bytes) -> None:
    parser = RespReplyParser()
    parser.feed(data)
    try:
        while parser.get() is not INCOMPLETE:
            pass
    except RespProtocolError:
        pass
