"""The packed encoding of a session's pairs: what the stores keep, in memory and on disk.

Independent of the Python version (unlike ``marshal``), and compact, as Redis's listpack is:
``\\x02``, the number of pairs as a varint, then the length of every key and value as varints
(``k1 v1 k2 v2 ...``), then the keys and values themselves, back to back.  A 5-field,
200-byte session packs into 212 bytes.  With fewer than 128 pairs, each shorter than 128
bytes (nearly every session), every varint is one byte, and both directions run in C
(``bytes()``, ``join``, slicing); longer ones take a plain loop.

The first format (``\\x01``, then per pair two big-endian 32-bit lengths, the key and the
value) is still read, as databases written before hold it; PostgreSQL keeps writing it
(:func:`pack_fixed`), since its one-command write walks the pairs in SQL.
"""

from __future__ import annotations

import struct
from itertools import accumulate, chain

__all__ = ["pack", "pack_fixed", "unpack"]

_V1, _V2 = 1, 2
_HEAD = bytes((_V2,))
_LENGTHS = struct.Struct(">II")


def pack(data: dict[bytes, bytes]) -> bytes:
    flat = tuple(chain.from_iterable(data.items()))
    lengths = [len(flat) >> 1, *map(len, flat)]
    if max(lengths) < 0x80:  # every varint is one byte
        return _HEAD + bytes(lengths) + b"".join(flat)
    return _HEAD + b"".join(map(_varint, lengths)) + b"".join(flat)


def pack_fixed(data: dict[bytes, bytes]) -> bytes:
    """The first format, whose fixed-width lengths a query can walk (PostgreSQL merges a
    one-command write's changes into the stored pairs in SQL)."""
    return bytes((_V1,)) + b"".join(_LENGTHS.pack(len(k), len(v)) + k + v for k, v in data.items())


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def unpack(blob: bytes) -> dict[bytes, bytes]:
    """Raises ValueError if ``blob`` is not a complete encoding."""
    version = blob[0] if blob else None
    if version == _V2:
        n = blob[1] if len(blob) > 1 else 0x80
        start = 2 + 2 * n
        lengths = blob[2:start]
        if n < 0x80 and (not lengths or max(lengths) < 0x80):
            return _split(blob, start, lengths)
        return _unpack_varints(blob)
    if version == _V1:
        return _unpack_v1(blob)
    raise ValueError("unknown session encoding")


def _split(blob: bytes, start: int, lengths: bytes | list[int]) -> dict[bytes, bytes]:
    """The pairs of ``blob`` whose keys and values start at ``start``, of ``lengths``."""
    ends = list(accumulate(lengths, initial=start))
    if ends[-1] != len(blob) or len(lengths) % 2:
        raise ValueError("truncated session encoding")
    items = map(blob.__getitem__, map(slice, ends, ends[1:]))
    return dict(zip(items, items, strict=True))


def _unpack_varints(blob: bytes) -> dict[bytes, bytes]:
    pos = 1
    end = len(blob)

    def varint() -> int:
        nonlocal pos
        n = shift = 0
        while True:
            if pos >= end or shift > 63:
                raise ValueError("truncated session encoding")
            byte = blob[pos]
            pos += 1
            n |= (byte & 0x7F) << shift
            if byte < 0x80:
                return n
            shift += 7

    count = varint()
    if count > end:
        raise ValueError("truncated session encoding")
    lengths = [varint() for _ in range(2 * count)]
    return _split(blob, pos, lengths)


def _unpack_v1(blob: bytes) -> dict[bytes, bytes]:
    data: dict[bytes, bytes] = {}
    pos = 1
    end = len(blob)
    header = _LENGTHS.size
    read = _LENGTHS.unpack_from
    while pos < end:
        if pos + header > end:
            raise ValueError("truncated session encoding")
        klen, vlen = read(blob, pos)
        pos += header
        if pos + klen + vlen > end:
            raise ValueError("truncated session encoding")
        key = blob[pos : pos + klen]
        pos += klen
        data[key] = blob[pos : pos + vlen]
        pos += vlen
    return data
