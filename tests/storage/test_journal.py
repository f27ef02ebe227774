"""The redo journal of the SQLite storage: torn frames, failed writes, replay after a crash."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sessionserver.storage import StorageOptions, open_storage
from sessionserver.storage.journal import (
    DELETE,
    SET,
    TOUCH,
    Journal,
    frame,
    journal_files,
    read_frames,
)

pytestmark = pytest.mark.anyio


def test_frames_round_trip_and_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "s.db"), 1)
    batches: list[list[tuple[Any, ...]]] = [
        [(SET, b"a" * 32, (b"k", b"v"), 1.0, None, None)],
        [(DELETE, b"a" * 32)],
        [(TOUCH, b"b" * 32, 2.0)],
    ]
    for records in batches:
        journal.write(frame(records))
    journal.close()
    assert list(read_frames(journal.path)) == batches
    # a crash in the middle of the next frame leaves a torn tail: the complete frames survive
    with open(journal.path, "ab") as fh:
        fh.write(frame([(DELETE, b"c" * 32)])[:-3])
    assert list(read_frames(journal.path)) == batches
    # a damaged frame ends the journal there
    data = bytearray(Path(journal.path).read_bytes())
    data[20] ^= 0xFF
    Path(journal.path).write_bytes(bytes(data))
    assert list(read_frames(journal.path)) == []


def test_a_failed_write_is_cut_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(str(tmp_path / "s.db"), 7)
    journal.write(frame([(DELETE, b"a" * 32)]))
    real_write = os.write

    def half_then_fail(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(OSError):
        journal.write(frame([(DELETE, b"b" * 32)]))
    monkeypatch.undo()
    journal.write(frame([(DELETE, b"c" * 32)]))  # the disk is back
    journal.close()
    assert list(read_frames(journal.path)) == [[(DELETE, b"a" * 32)], [(DELETE, b"c" * 32)]]
    assert journal_files(str(tmp_path / "s.db")) == [(7, journal.path)]


CRASH = """
import asyncio, os, sys, time
from sessionserver.storage import StorageOptions, open_storage

async def main():
    s = open_storage("sqlite://" + sys.argv[1], StorageOptions(ttl=1000))
    await s.start()
    now = time.time()
    await s.create(b"a" * 32, {b"k": b"one"}, now)
    await s.create(b"b" * 32, {b"gone": b"1"}, now)
    s.save_now(b"a" * 32, {b"k": b"two", b"x": b"\\x00\\n"}, now)
    await s.delete(b"b" * 32, now)
    await s.set_ttl(b"a" * 32, 77, now)
    await s.barrier().wait()
    os._exit(0)  # like kill -9: no stop(), no database sync (the first is a second away)

asyncio.run(main())
"""


async def test_a_crash_before_the_database_sync_is_replayed_from_the_journal(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", textwrap.dedent(CRASH), str(db)
    )
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    assert journal_files(str(db)), "the crash should leave a journal behind"
    s = open_storage(f"sqlite://{db}", StorageOptions(ttl=1000))
    await s.start()
    try:
        now = time.time()
        assert await s.load(b"a" * 32, now) == {b"k": b"two", b"x": b"\x00\n"}
        assert await s.get_ttl(b"a" * 32, now) == pytest.approx(77, abs=2)
        assert await s.load(b"b" * 32, now) is None
    finally:
        await s.stop()
    assert journal_files(str(db)) == []  # replayed into the database, then dropped
    again = open_storage(f"sqlite://{db}", StorageOptions(ttl=1000))
    await again.start()
    try:
        assert await again.load(b"a" * 32, time.time()) == {b"k": b"two", b"x": b"\x00\n"}
    finally:
        await again.stop()


REFUSED = """
import asyncio, os, resource, signal, sys, time
from sessionserver.storage import StorageOptions, open_storage
from sessionserver.storage.base import StorageError

async def main():
    s = open_storage("sqlite://" + sys.argv[1], StorageOptions(ttl=1000))
    await s.start()
    now = time.time()
    await s.create(b"a" * 32, {b"k": b"one"}, now)
    await s.barrier().wait()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))  # the disk refuses every write now
    s.save_now(b"a" * 32, {b"k": b"two"}, now)
    refused = s.barrier()
    await refused.wait()
    assert isinstance(refused.error, StorageError), refused.error
    assert not s.available
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # and takes them again
    s.save_now(b"a" * 32, {b"k": b"three", b"x": b"1"}, now)
    accepted = s.barrier()
    await accepted.wait()
    assert accepted.error is None and s.available
    os._exit(0)

asyncio.run(main())
"""


async def test_a_refused_journal_write_fails_its_batch_and_the_next_one_writes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", textwrap.dedent(REFUSED), str(db)
    )
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    s = open_storage(f"sqlite://{db}", StorageOptions(ttl=1000))
    await s.start()
    try:
        assert await s.load(b"a" * 32, time.time()) == {b"k": b"three", b"x": b"1"}
    finally:
        await s.stop()
