"""Bytes a connection has read and not parsed yet, handed out in slices of a bounded size.

A read can bring megabytes at once (libuv reads up to 32 chunks of 64 KiB per wake-up); parsing
them in one go would hold the event loop for every other client, so the connection parses
them a slice per turn instead.  Slicing keeps an offset into the first chunk rather than
cutting it, so that a large chunk costs its size in copies, not its size times its slices.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios

__all__ = ["Inbox", "unread"]


class Inbox:
    """A queue of received chunks; :attr:`size` bytes in all."""

    __slots__ = ("_chunks", "_offset", "size")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._offset = 0
        self.size = 0

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def add(self, data: bytes) -> None:
        self._chunks.append(data)
        self.size += len(data)

    def first_byte(self) -> int:
        return self._chunks[0][self._offset]

    def take(self, limit: int) -> bytes:
        """The next at most ``limit`` bytes (there must be some)."""
        data = self._chunks[0]
        start = self._offset
        if len(data) - start <= limit:
            del self._chunks[0]
            self._offset = 0
            piece = data[start:] if start else data
        else:
            self._offset = start + limit
            piece = data[start : start + limit]
        self.size -= len(piece)
        return piece

    def clear(self) -> None:
        self._chunks.clear()
        self._offset = 0
        self.size = 0


def unread(transport: asyncio.Transport) -> int:
    """Bytes waiting in the connection's socket, not read yet."""
    sock = transport.get_extra_info("socket")
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, AttributeError, ValueError):
        return 0
    return int(struct.unpack("i", raw)[0])
