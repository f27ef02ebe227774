"""The embedded containers' representation: packed pairs, records, the lazily filed wheel.

In process, with explicit times (no clock, no sleeps); the contract suite runs the same
containers from outside, ``*_cold`` holding nearly every session as a record.
"""

from __future__ import annotations

import sqlite3
import struct
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionserver.storage import StorageOptions, open_storage
from sessionserver.storage.index import SessionIndex
from sessionserver.storage.journal import SET, Journal, frame
from sessionserver.storage.memory import MemoryStorage
from sessionserver.storage.pairs import pack, pack_fixed, unpack

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
A = b"0123456789abcdef0123456789abcdef"
B = b"fedcba9876543210fedcba9876543210"
#: The bench's idle session: five fields, 200 bytes of keys and values.
FIVE = {f"k{i}".encode(): (f"value-{i}-" * 6)[:38].encode() for i in range(1, 6)}


@given(st.dictionaries(st.binary(max_size=300), st.binary(max_size=300), max_size=200))
def test_pairs_round_trip(data: dict[bytes, bytes]) -> None:
    assert unpack(pack(data)) == data
    assert unpack(pack_fixed(data)) == data  # the format PostgreSQL walks in SQL


def test_pairs_are_packed_with_one_byte_lengths_and_the_first_format_still_reads() -> None:
    assert len(pack(FIVE)) == 1 + 1 + 10 + 200
    big = {b"k" * 200: b"v" * 70_000}
    assert unpack(pack(big)) == big
    v1 = b"\x01" + b"".join(struct.pack(">II", len(k), len(v)) + k + v for k, v in FIVE.items())
    assert unpack(v1) == FIVE
    assert pack_fixed(FIVE) == v1


@pytest.mark.parametrize(
    "blob", [b"", b"\x03", b"\x02", b"\x02\x01\x01", pack(FIVE)[:-1], pack(FIVE) + b"x"]
)
def test_damaged_pairs_are_a_value_error(blob: bytes) -> None:
    with pytest.raises(ValueError):
        unpack(blob)


async def test_an_idle_session_is_one_small_record_and_thaws_intact() -> None:
    s = MemoryStorage("memory://", StorageOptions(ttl=100))
    assert await s.create(A, dict(FIVE), T0)
    assert await s.set_ttl(B, 5, T0) is False
    s.cool()
    record = s.index.map[A]
    assert isinstance(record, bytes)
    assert sys.getsizeof(record) <= 256  # one pymalloc block of 256 bytes
    assert s.load_now(A, T0 + 1) == FIVE
    assert not isinstance(s.index.map[A], bytes)  # held as an entry while in use
    s.cool()
    assert s.save_now(A, {b"k": b"new"}, T0 + 2)  # replaced, never decoded
    s.cool()
    peeked = await s.peek(A, T0 + 3)
    assert peeked is not None and peeked[0] == {b"k": b"new"} and peeked[1] == pytest.approx(99)
    assert isinstance(s.index.map[A], bytes)  # peek does not thaw


async def test_lifetimes_of_their_own_survive_the_record() -> None:
    s = MemoryStorage("memory://", StorageOptions(ttl=100, max_lifetime=1000))
    await s.create(A, {b"k": b"v"}, T0)
    await s.set_ttl(A, 7, T0)
    s.cool()
    assert await s.get_ttl(A, T0) == pytest.approx(7)
    assert s.load_now(A, T0 + 7) is None  # its own idle lifetime, not the daemon's 100 s
    await s.create(B, {b"k": b"v"}, T0)
    s.cool()
    for t in range(0, 1000, 90):  # kept alive by access, until the absolute deadline
        assert s.load_now(B, T0 + t) == {b"k": b"v"}
        s.cool()
    assert s.load_now(B, T0 + 1000) is None


def test_the_wheel_files_lazily_and_never_reclaims_a_live_session() -> None:
    index = SessionIndex(ttl=10, max_lifetime=None)
    for sid in (A, B):
        index.insert(sid, index.new_entry({}, T0))
    e = index.live(A, T0 + 5)
    assert e is not None
    index.touch(A, e, T0 + 5)  # expires at T0 + 15 now; still filed under T0 + 10
    assert index.purge(T0 + 12) == [B]
    assert A in index.map
    assert index.purge(T0 + 14) == []
    assert index.purge(T0 + 16) == [A]  # filed again at T0 + 12, where it belonged
    fresh = index.new_entry({}, T0 + 20)
    index.insert(A, fresh)
    index.set_ttl(A, fresh, 2, T0 + 20)  # shorter: filed again, earlier
    assert index.purge(T0 + 23) == [A]


def test_a_deleted_then_recreated_id_is_reclaimed_once_and_on_time() -> None:
    index = SessionIndex(ttl=10, max_lifetime=None)
    index.insert(A, index.new_entry({}, T0))
    index.drop(A, index.map[A])  # its id stays filed
    index.insert(A, index.new_entry({}, T0 + 5))
    assert index.purge(T0 + 12) == []
    assert index.purge(T0 + 16) == [A]
    assert index.purge(T0 + 100) == []


async def test_sqlite_reads_what_earlier_versions_wrote(tmp_path: Path) -> None:
    db_path = tmp_path / "s.db"
    s = open_storage(f"sqlite://{db_path}", StorageOptions(ttl=1000))
    await s.start()
    await s.stop()
    now = time.time()
    v1 = b"\x01" + struct.pack(">II", 1, 3) + b"k" + b"old"
    with sqlite3.connect(db_path) as db:  # the first encoding of the pairs, in the database
        db.execute("INSERT INTO sessions VALUES (?, ?, ?, NULL, NULL)", (A.decode(), v1, now))
    journal = Journal(str(db_path), 1)  # and a journal whose SET holds a flat tuple
    journal.write(frame([(SET, B, (b"k", b"tuple"), now, None, None)]))
    journal.close()
    again = open_storage(f"sqlite://{db_path}", StorageOptions(ttl=1000))
    await again.start()
    try:
        assert await again.load(A, now) == {b"k": b"old"}
        assert await again.load(B, now) == {b"k": b"tuple"}
    finally:
        await again.stop()
    with sqlite3.connect(db_path) as db:
        rows = dict(db.execute("SELECT sid, data FROM sessions"))
    assert {unpack(v)[b"k"] for v in rows.values()} == {b"old", b"tuple"}
    assert rows[B.decode()][:1] == b"\x02"  # what changed is written in the packed encoding
