from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionserver import phpserialize as php


def test_dumps_matches_php() -> None:
    assert php.dumps({}) == b"a:0:{}"
    assert php.dumps({b"foo": b"bar", "ü".encode(): b""}) == (
        b'a:2:{s:3:"foo";s:3:"bar";s:2:"\xc3\xbc";s:0:"";}'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"a:0:{}", {}),
        (b'a:1:{s:1:"a";s:3:"x;y";}', {b"a": b"x;y"}),
        (b'a:1:{s:1:"a";s:4:"a"b"";}', {b"a": b'a"b"'}),
        (b"a:2:{i:0;i:-5;i:1;d:0.5;}", {b"0": b"-5", b"1": b"0.5"}),
        (b'a:3:{s:1:"t";b:1;s:1:"f";b:0;s:1:"n";N;}', {b"t": b"1", b"f": b"", b"n": b""}),
        (b'a:1:{s:1:"x";d:INF;}', {b"x": b"INF"}),
        (b'a:1:{s:1:"x";d:1.0E+25;}', {b"x": b"1.0E+25"}),
    ],
)
def test_loads(text: bytes, expected: dict[bytes, bytes]) -> None:
    assert php.loads(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"a:",
        b"a:1:{}",
        b"a:-1:{}",
        b"a:99999999999:{}",
        b'a:1:{s:1:"a";}',
        b'a:1:{s:2:"a";s:1:"b";}',
        b'a:1:{s:1:"a"s:1:"b";}',
        b'a:1:{s:1:"a";s:1:"b"}',
        b'a:1:{s:1:"a";s:1:"b";}x',
        b'a:1:{d:1.5;s:1:"b";}',
        b'a:1:{s:1:"a";O:8:"stdClass":0:{}}',
        b'a:1:{s:1:"a";C:3:"Foo":0:{}}',
        b'a:1:{s:1:"a";r:1;}',
        b'a:1:{s:1:"a";R:1;}',
        b'a:1:{s:1:"a";E:7:"Foo:Bar";}',
        b'a:1:{s:1:"a";i:1_0;}',
        b'a:1:{s:1:"a";i: 1;}',
        b'a:1:{s:1:"a";d:nope;}',
        b'a:1:{s:1:"a";b:2;}',
        b'O:8:"stdClass":0:{}',
        b's:1:"a";',
    ],
)
def test_loads_rejects(text: bytes) -> None:
    with pytest.raises(php.SerializeError):
        php.loads(text)


def test_nested_arrays_are_refused_distinctly() -> None:
    with pytest.raises(php.NestedArrayError):
        php.loads(b'a:1:{s:1:"a";a:1:{i:0;s:1:"b";}}')
    deep = b"a:1:{i:0;" * 100 + b"a:0:{}" + b"}" * 100
    with pytest.raises(php.SerializeError):
        php.loads(deep)


@given(st.dictionaries(st.binary(max_size=20), st.binary(max_size=50), max_size=20))
def test_round_trip(data: dict[bytes, bytes]) -> None:
    assert php.loads(php.dumps(data)) == data


@given(st.binary(max_size=300))
def test_fuzz_only_serialize_errors_escape(data: bytes) -> None:
    try:
        result = php.loads(data)
    except php.SerializeError:
        return
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in result.items())
