"""An append-only redo journal: what makes a commit on the SQLite storage one ``write()``.

Each batch of changes is one frame: a length, a CRC-32 and a ``marshal`` payload (a list of
records).  Appending a frame is a single ``write()``, plus an ``fdatasync`` when the fsync policy
says so; the database itself is brought up to date about once a second, from the latest state
of each changed session, after which the journal that covered those changes is deleted.

``marshal`` is fine here although its format may change between Python releases: a journal
lives a second, and ``marshal.loads`` reads every older version of the format.  The database
keeps the version-independent encoding of :mod:`.pairs`.

Records (plain tuples, so that marshal handles them in C):

- ``(SET, sid, pairs, atime, ttl, deadline)``: pairs as :func:`.pairs.pack` packs them
  (journals of earlier versions hold a flat tuple ``(k1, v1, k2, v2, ...)``, still read)
- ``(DELETE, sid)``
- ``(TOUCH, sid, atime)``

A crash can leave a torn last frame; :func:`read_frames` stops at the first frame that is
short or fails its CRC (nothing after it was acknowledged, since frames are written in order
and a reply waits for its frame).
"""

from __future__ import annotations

import logging
import marshal
import os
import struct
import zlib
from collections.abc import Iterator
from typing import Any

__all__ = ["DELETE", "SET", "TOUCH", "Journal", "frame", "journal_files", "read_frames"]

logger = logging.getLogger(__name__)

SET, DELETE, TOUCH = 0, 1, 2
_HEADER = struct.Struct(">II")  # payload length, CRC-32 of the payload


def journal_files(db_path: str) -> list[tuple[int, str]]:
    """The journals next to ``db_path``, oldest first, as (sequence number, path)."""
    directory, base = os.path.split(db_path)
    prefix = base + ".journal."
    found = []
    for name in os.listdir(directory or "."):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            found.append((int(name[len(prefix) :]), os.path.join(directory, name)))
    return sorted(found)


def read_frames(path: str) -> Iterator[list[tuple[Any, ...]]]:
    """The record lists of a journal, in order, up to the first damaged frame."""
    with open(path, "rb") as fh:
        data = fh.read()
    pos = 0
    while pos < len(data):
        if pos + _HEADER.size > len(data):
            break
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            records = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            break
        yield records
        pos = start + length
    if pos < len(data):
        logger.warning("%s: ignoring %d damaged bytes at its end", path, len(data) - pos)


def frame(records: list[tuple[Any, ...]]) -> bytes:
    """One journal frame holding ``records``."""
    payload = marshal.dumps(records)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class Journal:
    """The journal being appended to: written from one thread, fsynced from another (never
    both writing)."""

    def __init__(self, db_path: str, seq: int) -> None:
        self.db_path = db_path
        self.seq = seq
        self.path = f"{db_path}.journal.{seq}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self._fd).st_size
        self.unsynced = False

    def write(self, frame: bytes) -> None:
        """Append one :func:`frame`; on failure cut the file back so that no torn frame is
        left in front of later ones."""
        try:
            view = memoryview(frame)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            try:
                os.ftruncate(self._fd, self.size)
            except OSError:
                logger.exception("cannot cut %s back after a failed write", self.path)
            raise
        self.size += len(frame)
        self.unsynced = True

    def sync(self) -> None:
        if self.unsynced:
            self.unsynced = False  # first: a write while fdatasync runs sets it again
            try:
                os.fdatasync(self._fd)
            except OSError:
                self.unsynced = True
                raise

    def close(self) -> None:
        os.close(self._fd)
