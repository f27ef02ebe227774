"""The on-disk encoding of a session's pairs, independent of the Python version.

``\\x01`` then, per pair, the key and value lengths as two big-endian 32-bit integers followed
by the key and value bytes.  Used by the file and SQLite containers (``marshal``, the in-memory
format, may change between Python releases).
"""

from __future__ import annotations

import struct

__all__ = ["pack", "unpack"]

_VERSION = b"\x01"
_LENGTHS = struct.Struct(">II")


def pack(data: dict[bytes, bytes]) -> bytes:
    parts = [_VERSION]
    lengths = _LENGTHS.pack
    for key, value in data.items():
        parts.append(lengths(len(key), len(value)))
        parts.append(key)
        parts.append(value)
    return b"".join(parts)


def unpack(blob: bytes) -> dict[bytes, bytes]:
    """Raises ValueError if ``blob`` is not a complete encoding."""
    if blob[:1] != _VERSION:
        raise ValueError("unknown session encoding")
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
