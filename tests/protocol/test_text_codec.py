"""The text codec from one table of cases: whole, byte by byte, and with trailing bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionserver.protocol import CODEC_ERROR, TextClientCodec, TextServerCodec, encode_reply
from sessionserver.protocol import replies as R

# (bytes on the wire, the requests they parse into)
REQUESTS: list[tuple[bytes, list[list[object]]]] = [
    (b"new\r\n", [[b"new"]]),
    (b"new\n", [[b"new"]]),
    (b"put foo a  b\r\n", [[b"put", b"foo", b"a  b"]]),
    (b"put foo \r\n", [[b"put", b"foo", b""]]),
    (b"put foo\r\n", [[b"put", b"foo"]]),
    (
        b"open 0123456789abcdef0123456789abcdef r\r\n",
        [[b"open", b"0123456789abcdef0123456789abcdef", b"r"]],
    ),
    (b"GET x\r\n", [[b"GET", b"x"]]),
    (b"\r\n", [[b""]]),
    (b"put k a\rb\r\n", [[b"put", b"k", b"a\rb"]]),
    ("put ключ значение\r\n".encode(), [[b"put", "ключ".encode(), "значение".encode()]]),
    (b"keys\r\nget a\nclose\r\n", [[b"keys"], [b"get", b"a"], [b"close"]]),
    (b"put k \xff\r\n", [[CODEC_ERROR, R.INVALID_UTF8]]),
    (b"put k a\x00b\r\n", [[CODEC_ERROR, R.NUL_BYTE]]),
    (
        b"get a\r\nput k \xc3\r\nget b\r\n",
        [[b"get", b"a"], [CODEC_ERROR, R.INVALID_UTF8], [b"get", b"b"]],
    ),
]


def feed_whole(data: bytes) -> list[list[object]]:
    return TextServerCodec().feed(data)


def feed_bytewise(data: bytes) -> list[list[object]]:
    codec = TextServerCodec()
    out: list[list[object]] = []
    for i in range(len(data)):
        out.extend(codec.feed(data[i : i + 1]))
    return out


@pytest.mark.parametrize(("wire", "expected"), REQUESTS)
@pytest.mark.parametrize("feed", [feed_whole, feed_bytewise])
def test_requests(wire: bytes, expected: list[list[object]], feed) -> None:
    assert feed(wire) == expected


@pytest.mark.parametrize(("wire", "expected"), REQUESTS)
def test_trailing_bytes_stay_buffered(wire: bytes, expected: list[list[object]]) -> None:
    codec = TextServerCodec()
    assert codec.feed(wire + b"get tra") == expected
    assert codec.buffered == len(b"get tra")
    assert codec.feed(b"iling\r\n") == [[b"get", b"trailing"]]
    assert codec.buffered == 0


def test_over_long_lines_are_reported_once_and_skipped() -> None:
    codec = TextServerCodec(max_line=10)
    assert codec.feed(b"put k 0123456789\r\nget k\r\n") == [
        [CODEC_ERROR, R.LINE_TOO_LONG],
        [b"get", b"k"],
    ]
    # arriving in pieces: reported when it passes the limit, not buffered, then skipped
    assert codec.feed(b"put k 01") == []
    assert codec.feed(b"23456789") == [[CODEC_ERROR, R.LINE_TOO_LONG]]
    assert codec.buffered == 0
    assert codec.feed(b"x" * 10_000) == []
    assert codec.buffered == 0
    assert codec.feed(b"xx\r\nping\r\n") == [[b"ping"]]
    # exactly at the limit is fine
    assert codec.feed(b"0123456789\r\n") == [[b"0123456789"]]


REPLIES: list[tuple[object, bytes]] = [
    (None, b"ok\r\n"),
    (b"", b"ok \r\n"),
    (b"bar", b"ok bar\r\n"),
    (7, b"ok 7\r\n"),
    ([b"foo", b"today"], b"ok foo|today\r\n"),
    ([], b"ok \r\n"),
    ({b"foo": b"bar"}, b'ok a:1:{s:3:"foo";s:3:"bar";}\r\n'),
    (R.NO_SESSION, b"err No session opened.\r\n"),
    (R.UNKNOWN_COMMAND, b"err unknown command\r\n"),
]


@pytest.mark.parametrize(("value", "wire"), REPLIES)
def test_reply_encoding_and_client_decoding(value: object, wire: bytes) -> None:
    assert encode_reply(value) == wire
    client = TextClientCodec()
    parsed = client.feed(wire)
    assert len(parsed) == 1
    ok, text = parsed[0]
    assert ok is not (value.__class__ is R.Err)
    assert text == (None if value is None else wire[3 if ok else 4 : -2])


def test_client_codec_splits_replies_across_reads() -> None:
    client = TextClientCodec()
    wire = b"ok\r\nok 123\r\nerr Key does not exist\r\n"
    got = []
    for i in range(len(wire)):
        got.extend(client.feed(wire[i : i + 1]))
    assert got == [(True, None), (True, b"123"), (False, b"Key does not exist")]


def test_client_refuses_to_send_line_breaks() -> None:
    assert TextClientCodec.encode("put", "k", "a b") == b"put k a b\r\n"
    with pytest.raises(ValueError):
        TextClientCodec.encode("put", "k", "a\nb")


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_fuzz_any_bytes_in_any_chunks(data: bytes, chunk: int) -> None:
    """The codec never raises, and chunking never changes what it parses."""
    whole = TextServerCodec(max_line=100).feed(data)
    codec = TextServerCodec(max_line=100)
    pieces: list[list[object]] = []
    for i in range(0, len(data), chunk):
        pieces.extend(codec.feed(data[i : i + chunk]))
    for request in pieces:
        assert request[0] == CODEC_ERROR or all(isinstance(p, bytes) for p in request)
        assert len(request) <= 3
    # an over-long line may be reported earlier when chunked, but the rest agrees
    assert [r for r in pieces if r[0] != CODEC_ERROR] == [r for r in whole if r[0] != CODEC_ERROR]


@given(
    st.lists(
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"),
            max_size=40,
        ),
        max_size=20,
    )
)
def test_fuzz_valid_lines_round_trip(lines: list[str]) -> None:
    wire = b"".join(line.encode() + b"\r\n" for line in lines)
    assert feed_whole(wire) == [line.encode().split(b" ", 2) for line in lines]
