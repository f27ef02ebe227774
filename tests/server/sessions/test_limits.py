"""The limits module: one key rule and the size limits, pure."""

from __future__ import annotations

import pytest

from sessionserver.protocol.replies import (
    INVALID_KEY,
    SESSION_TOO_LARGE,
    TOO_MANY_KEYS,
    VALUE_TOO_LARGE,
)
from sessionserver.server.sessions.limits import (
    MAX_TTL,
    Limits,
    apply_changes,
    bad_key,
    check_pairs,
    check_put,
    seconds,
    size_of,
)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        (b"a", False),
        (b"x" * 1024, False),
        (b"caf\xc3\xa9", False),
        (b"", True),
        (b"x" * 1025, True),
        (b"a|b", True),
        (b"a b", True),
        (b"a\nb", True),
        (b"a\rb", True),
    ],
)
def test_the_key_rule(key: bytes, bad: bool) -> None:
    assert bad_key(key) is bad


def test_check_put_counts_the_size_and_keys_without_changing_anything() -> None:
    limits = Limits(max_value=5, max_keys=2, max_session=12)
    data = {b"a": b"123"}
    assert check_put(limits, data, size_of(data), b"a", b"12345") == 6
    assert check_put(limits, data, 4, b"bb", b"123") == 9
    assert check_put(limits, data, 4, b"a", b"123456") is VALUE_TOO_LARGE
    assert check_put(limits, data, 4, b"a|", b"1") is INVALID_KEY
    assert check_put(limits, data, 4, b"bbbbbb", b"12345") is SESSION_TOO_LARGE
    full = {b"a": b"1", b"b": b"2"}
    assert check_put(limits, full, 4, b"c", b"3") is TOO_MANY_KEYS
    assert check_put(limits, full, 4, b"a", b"3") == 4  # replacing a key adds none
    assert data == {b"a": b"123"} and full == {b"a": b"1", b"b": b"2"}


def test_apply_changes_judges_the_result_not_the_steps() -> None:
    limits = Limits(max_value=10, max_keys=2, max_session=100)
    data = {b"a": b"1", b"b": b"2"}
    # setting c and removing a never has three keys at the end
    assert apply_changes(limits, data, {b"c": b"3"}, [b"a"]) == {b"b": b"2", b"c": b"3"}
    assert apply_changes(limits, data, {b"c": b"3"}, []) is TOO_MANY_KEYS
    assert apply_changes(limits, data, {b"": b"3"}, []) is INVALID_KEY
    assert apply_changes(limits, data, {b"a": b"x" * 11}, []) is VALUE_TOO_LARGE
    assert data == {b"a": b"1", b"b": b"2"}


def test_check_pairs() -> None:
    limits = Limits(max_value=3, max_keys=2, max_session=6)
    assert check_pairs(limits, {b"a": b"1", b"b": b"22"}) == 5
    assert check_pairs(limits, {b"a": b"1", b"b": b"2", b"c": b"3"}) is TOO_MANY_KEYS
    assert check_pairs(limits, {b"a b": b"1"}) is INVALID_KEY
    assert check_pairs(limits, {b"a": b"1234"}) is VALUE_TOO_LARGE
    assert check_pairs(limits, {b"aaa": b"111", b"b": b"1"}) is SESSION_TOO_LARGE


@pytest.mark.parametrize(
    ("raw", "low", "value"),
    [
        (b"1", 1, 1),
        (b"0", 0, 0),
        (b"0", 1, None),
        (b"%d" % MAX_TTL, 1, MAX_TTL),
        (b"%d" % (MAX_TTL + 1), 1, None),
        (b"-1", 0, None),
        (b"1.5", 0, None),
        (b"\xd9\xa3", 0, None),  # an Arabic-Indic digit: isdigit() but not ASCII
        (b"99999999999", 0, None),
    ],
)
def test_seconds(raw: bytes, low: int, value: int | None) -> None:
    assert seconds(raw, low) == value
