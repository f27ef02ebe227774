"""PHP ``serialize()`` text for flat session arrays, both ways, safely.

``get_all`` and ``put_all`` carry a PHP array in ``serialize()`` form so that the original PHP
client's ``getAll()``/``putAll()`` keep working.  The parser accepts scalars and arrays only:
objects (``O:``, ``C:``), references (``r:``, ``R:``) and enums (``E:``) are rejected, so no input
can make it build anything but strings.  A session is a flat mapping of byte strings, so a
nested array is parsed (to tell the caller precisely what is wrong) and then refused.

String lengths are byte counts, as in PHP; values are kept as the UTF-8 bytes they arrived as.
"""

from __future__ import annotations

__all__ = ["NestedArrayError", "SerializeError", "dumps", "loads", "loads_changes"]


from .exceptions import NestedArrayError, SerializeError


def dumps(pairs: dict[bytes, bytes]) -> bytes:
    """Serialize a flat mapping as a PHP array of strings: ``a:1:{s:3:"foo";s:3:"bar";}``."""
    parts = [b"a:%d:{" % len(pairs)]
    for key, value in pairs.items():
        parts.append(b's:%d:"%s";s:%d:"%s";' % (len(key), key, len(value), value))
    parts.append(b"}")
    return b"".join(parts)


_MAX_DEPTH = 32


#: What ``N;`` parses to when the caller wants to tell null apart (see loads_changes).
_NULL = object()


class _Parser:
    __slots__ = ("data", "null", "pos")

    def __init__(self, data: bytes, null: object = b"") -> None:
        self.data = data
        self.pos = 0
        self.null = null

    def fail(self, what: str) -> SerializeError:
        return SerializeError(f"{what} at byte {self.pos}")

    def expect(self, token: bytes) -> None:
        end = self.pos + len(token)
        if self.data[self.pos : end] != token:
            raise self.fail(f"expected {token.decode()!r}")
        self.pos = end

    def until(self, stop: bytes) -> bytes:
        end = self.data.find(stop, self.pos)
        if end < 0:
            raise self.fail(f"missing {stop.decode()!r}")
        token = self.data[self.pos : end]
        self.pos = end + len(stop)
        return token

    def integer(self, stop: bytes) -> int:
        token = self.until(stop)
        # PHP writes plain decimal integers; int() alone would also take "1_000" or " 1".
        body = token[1:] if token[:1] == b"-" else token
        if not body.isdigit() or not body.isascii() or len(body) > 19:
            raise self.fail("bad integer")
        return int(token)

    def value(self, depth: int) -> object:
        kind = self.data[self.pos : self.pos + 2]
        self.pos += 2
        if kind == b"s:":
            length = self.integer(b":")
            if length < 0:
                raise self.fail("negative length")
            self.expect(b'"')
            end = self.pos + length
            if end > len(self.data):
                raise self.fail("string runs past the end")
            text = self.data[self.pos : end]
            self.pos = end
            self.expect(b'";')
            return text
        if kind == b"i:":
            return b"%d" % self.integer(b";")
        if kind == b"d:":
            token = self.until(b";")
            try:
                float(token)
            except ValueError:
                raise self.fail("bad float") from None
            if token.strip() != token or b"_" in token:
                raise self.fail("bad float")
            return token
        if kind == b"b:":
            token = self.until(b";")
            if token not in (b"0", b"1"):
                raise self.fail("bad boolean")
            return b"1" if token == b"1" else b""
        if kind == b"N;":
            return self.null
        if kind == b"a:":
            if depth >= _MAX_DEPTH:
                raise self.fail("arrays nested too deeply")
            return self.array(depth + 1)
        raise self.fail("unsupported type")

    def key(self) -> bytes:
        kind = self.data[self.pos : self.pos + 2]
        if kind not in (b"s:", b"i:"):
            raise self.fail("array key must be a string or an integer")
        key = self.value(0)
        assert isinstance(key, bytes)
        return key

    def array(self, depth: int) -> dict[bytes, object]:
        count = self.integer(b":")
        # Each element takes at least 6 bytes ("i:0;N;"), so a huge count is a lie we can
        # reject before looping.
        if count < 0 or count * 6 > len(self.data) - self.pos:
            raise self.fail("bad element count")
        self.expect(b"{")
        result: dict[bytes, object] = {}
        for _ in range(count):
            key = self.key()
            result[key] = self.value(depth)
        self.expect(b"}")
        return result


def _top(data: bytes, null: object) -> dict[bytes, object]:
    parser = _Parser(data, null)
    if data[:2] != b"a:":
        raise SerializeError("not an array")
    parser.pos = 2
    result = parser.array(1)
    if parser.pos != len(data):
        raise parser.fail("trailing bytes")
    for key, value in result.items():
        if isinstance(value, dict):
            raise NestedArrayError(f"element {key!r} is an array")
    return result


def loads(data: bytes) -> dict[bytes, bytes]:
    """Parse PHP serialize() text of a flat array into a mapping of byte strings.

    Scalars become their PHP string form: integers and floats as written, ``true`` as ``1``,
    ``false`` and ``null`` as the empty string.

    Raises:
        NestedArrayError: an element is itself an array.
        SerializeError: anything else that is not a well-formed array, including trailing bytes.
    """
    return _top(data, b"")  # type: ignore[return-value]


def loads_changes(data: bytes) -> tuple[dict[bytes, bytes], list[bytes]]:
    """Like :func:`loads`, but a ``null`` value means "remove this key".

    Returns:
        The pairs to set, and the keys to remove.
    """
    changes: dict[bytes, bytes] = {}
    removed: list[bytes] = []
    for key, value in _top(data, _NULL).items():
        if value is _NULL:
            removed.append(key)
        else:
            assert isinstance(value, bytes)
            changes[key] = value
    return changes, removed
