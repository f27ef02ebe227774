"""What is particular to the PostgreSQL container (the contract is in test_contract.py).

Each test works in a schema of its own on this machine's PostgreSQL and drops only that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import psycopg
import pytest

from sessionserver.storage import (
    LockLost,
    SharedStorage,
    StorageError,
    StorageOptions,
    check_url,
    open_storage,
)
from sessionserver.storage.base import (
    APPLIED,
    APPLY_ABSENT,
    APPLY_LOCKED,
    APPLY_TOO_LARGE,
    APPLY_TOO_MANY_KEYS,
)
from sessionserver.storage.postgres import PostgresStorage
from sessionserver.storage.postgres.storage import APPLY_WALK_MAX

from ..helpers import wait_until_async
from ..proxy import Proxy
from ..stores import POSTGRES_URL, drop_postgres_schema, postgres_storage_url, unique_name

pytestmark = pytest.mark.anyio

A = b"0123456789abcdef0123456789abcdef"
B = b"fedcba9876543210fedcba9876543210"


@pytest.fixture
def schema() -> Iterator[str]:
    name = unique_name("pg")
    yield name
    drop_postgres_schema(name)


@pytest.fixture
async def db() -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """A connection of the test's own, to look at the tables."""
    conn = await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True)
    async with conn:
        yield conn


async def _storage(
    schema: str, ttl: int = 1440, user_keys: tuple[bytes, ...] = ()
) -> PostgresStorage:
    storage = open_storage(postgres_storage_url(schema), StorageOptions(ttl, user_keys=user_keys))
    assert isinstance(storage, PostgresStorage)
    await storage.start()
    return storage


async def _one(db: psycopg.AsyncConnection[tuple[object, ...]], query: str) -> object:
    cur = await db.execute(query.encode())
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def test_start_creates_the_schema_and_two_daemons_may_start_at_once(
    schema: str, db: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    one = open_storage(postgres_storage_url(schema), StorageOptions())
    two = open_storage(postgres_storage_url(schema), StorageOptions())
    await asyncio.gather(one.start(), two.start())  # a fresh schema, created by both at once
    try:
        cur = await db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema]
        )
        assert [row[0] for row in await cur.fetchall()] == ["locks", "sessions", "times"]
        cur = await db.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s ORDER BY 1", [schema]
        )
        assert {"times_expires_at", "sessions_user_id"} <= {row[0] for row in await cur.fetchall()}
        now = time.time()
        assert await one.create(A, {b"k": b"v"}, now)
        assert await two.load(A, now) == {b"k": b"v"}
    finally:
        await one.stop()
        await two.stop()
    again = await _storage(schema)  # the tables exist: nothing to create
    try:
        assert await again.load(A, time.time()) == {b"k": b"v"}
    finally:
        await again.stop()


async def test_a_schema_made_beforehand_is_used(
    schema: str, db: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    await db.execute(f"CREATE SCHEMA {schema}".encode())  # by the DBA, say
    s = await _storage(schema)
    try:
        assert await s.create(A, {}, time.time())
    finally:
        await s.stop()


async def test_a_statement_never_waits_past_the_timeout(schema: str) -> None:
    s = open_storage(postgres_storage_url(schema) + "&timeout=1.5", StorageOptions())
    await s.start()
    try:
        now = time.time()
        await s.create(A, {}, now)
        # Another client holds the session's row locked (a stuck transaction, say).
        other = await psycopg.AsyncConnection.connect(POSTGRES_URL)
        async with other:
            await other.execute(
                f"SELECT FROM {schema}.times WHERE sid = %s FOR UPDATE".encode(), [A.decode()]
            )
            started = time.monotonic()
            with pytest.raises(StorageError, match=r"postgresql: .*statement timeout"):
                await s.load(A, now)
            assert 1.2 < time.monotonic() - started < 1.5  # the server cancels it first
            await other.rollback()
        assert await s.load(A, now) == {}
    finally:
        await s.stop()


async def test_a_load_rewrites_the_times_row_only(
    schema: str, db: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    s = await _storage(schema, ttl=100)
    try:
        now = time.time()
        await s.create(A, {b"k": b"v" * 1000}, now)
        sid = A.decode()

        async def xmins() -> tuple[object, object]:
            data = await _one(db, f"SELECT xmin::text FROM {schema}.sessions WHERE sid = '{sid}'")
            times = await _one(db, f"SELECT xmin::text FROM {schema}.times WHERE sid = '{sid}'")
            return data, times

        data_before, times_before = await xmins()
        assert await s.load(A, now + 10) == {b"k": b"v" * 1000}
        data_after, times_after = await xmins()
        assert data_after == data_before  # the pairs' row was not rewritten
        assert times_after != times_before  # the access was recorded
        assert await s.get_ttl(A, now + 10) == pytest.approx(100)
    finally:
        await s.stop()


async def test_purge_deletes_expired_rows_through_the_index(
    schema: str, db: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    s = await _storage(schema, ttl=100)
    two = await _storage(schema, ttl=100)
    try:
        now = time.time()
        # 2500 expired sessions and 5000 live ones, written directly (quicker than creating).
        for first, count, deadline in ((0, 2500, now - 1), (2500, 5000, now + 100)):
            await db.execute(
                f"""INSERT INTO {schema}.times (sid, created, accessed, ttl, expires_at)
                    SELECT lpad(to_hex(n), 32, '0'), %(at)s, %(at)s, NULL, %(at)s + 100
                    FROM generate_series(%(first)s::int, %(last)s::int) AS n""".encode(),
                {"at": deadline - 100, "first": first, "last": first + count - 1},
            )
            await db.execute(
                f"""INSERT INTO {schema}.sessions (sid, data)
                    SELECT lpad(to_hex(n), 32, '0'), '\\x01'::bytea
                    FROM generate_series(%(first)s::int, %(last)s::int) AS n""".encode(),
                {"first": first, "last": first + count - 1},
            )
        await db.execute(f"ANALYZE {schema}.times".encode())
        cur = await db.execute(b"EXPLAIN " + s._sql["purge"], {"now": now})
        plan = "\n".join(str(row[0]) for row in await cur.fetchall())
        assert "times_expires_at" in plan, plan
        assert await s.count(now) == 5000
        # Two daemons sweeping at once share the work (neither waits for the other's rows).
        done = await asyncio.gather(s.purge_expired(now), two.purge_expired(now))
        assert sum(done) == 2500
        assert await s.purge_expired(now) == 0
        assert await _one(db, f"SELECT count(*) FROM {schema}.times") == 5000
        assert await _one(db, f"SELECT count(*) FROM {schema}.sessions") == 5000
        assert await s.load(b"%032x" % 2500, now) == {}
        assert await s.load(b"%032x" % 0, now) is None
    finally:
        await s.stop()
        await two.stop()


async def test_connections_broken_by_a_server_restart_are_replaced(
    schema: str, db: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    # The container's own connections (and only those: the server is shared) are killed, as a
    # restart of the server would; the next calls get fresh ones.
    url = postgres_storage_url(schema) + f"&application_name={schema}"
    s = open_storage(url, StorageOptions(ttl=100))
    await s.start()
    try:
        now = time.time()
        await s.create(A, {b"k": b"v"}, now)
        killed = await _one(
            db,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE application_name = '{schema}'",
        )
        assert isinstance(killed, int) and killed >= 1
        for _ in range(3):
            assert await s.load(A, now) == {b"k": b"v"}
    finally:
        await s.stop()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_an_outage_fails_calls_in_time_and_the_container_recovers(
    schema: str, mode: Literal["refuse", "blackhole"]
) -> None:
    with Proxy(("127.0.0.1", 5432)) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test?schema={schema}&timeout=1"
        s = open_storage(url, StorageOptions(ttl=100))
        assert isinstance(s, SharedStorage)
        await s.start()
        try:
            now = time.time()
            await s.create(A, {b"k": b"v"}, now)
            proxy.down(mode)
            for call in (
                s.load(A, now),
                s.save(A, {b"k": b"lost"}, now),
                s.purge_expired(now),
                s.lock_acquire(A, b"t", 5),
            ):
                started = time.monotonic()
                with pytest.raises(StorageError, match="postgresql"):
                    await call
                assert time.monotonic() - started < 1.5
            proxy.up()

            async def recovered() -> bool:
                return await s.load(A, now) == {b"k": b"v"}

            await wait_until_async(recovered, what="the store to come back")
        finally:
            await s.stop()


async def test_a_deleted_session_leaves_no_rows(
    schema: str, db: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    s = await _storage(schema, user_keys=(b"user",))
    try:
        now = time.time()
        await s.create(A, {b"user": b"42"}, now)
        assert await s.lock_acquire(A, b"token", 5)
        assert await s.user_sessions(b"42", now) == [A]
        assert await s.delete(A, now)
        await s.lock_release(A, b"token")
        for table in ("sessions", "times", "locks"):
            assert await _one(db, f"SELECT count(*) FROM {schema}.{table}") == 0
    finally:
        await s.stop()


async def test_a_foreign_scan_cursor_ends_the_scan(schema: str) -> None:
    s = await _storage(schema)
    try:
        await s.create(A, {}, time.time())
        assert await s.scan(12345, 10, time.time()) == (0, [])
        assert await s.scan(1 << 2000, 10, time.time()) == (0, [])
        assert await s.scan(0, 10, time.time()) == (0, [A])
    finally:
        await s.stop()


def test_a_bad_schema_name_is_refused_by_the_config_check() -> None:
    with pytest.raises(ValueError, match="schema"):
        check_url("postgresql://127.0.0.1/test?schema=bad-name")
    with pytest.raises(ValueError, match="database"):
        check_url("postgresql://127.0.0.1/")
    check_url("postgres://127.0.0.1/test?schema=good_name&timeout=2")


async def test_an_unreachable_server_fails_start_quickly_without_the_password() -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/test?timeout=1"
    s = open_storage(url, StorageOptions())
    assert "s3cret" not in s.describe()
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        await s.start()
    assert time.monotonic() - started < 5
    assert "postgresql" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(StorageError, match="not started"):
        await s.load(A, time.time())
    await s.stop()


async def test_apply_leaves_a_session_too_big_to_walk_in_sql_to_the_lock(schema: str) -> None:
    s = await _storage(schema, ttl=100)
    try:
        now = time.time()
        args: dict[str, Any] = {"max_keys": 10**4, "max_session": 10**7, "token": None}
        small = {b"k%d" % i: b"v" for i in range(10)}
        big = {b"k%d" % i: b"v" * 20 for i in range(APPLY_WALK_MAX // 20)}
        await s.create(A, small, now)
        await s.create(B, big, now)
        assert await s.apply(A, {b"x": b"1"}, [], now=now, **args) == APPLIED
        assert await s.apply(B, {b"x": b"1"}, [], now=now, **args) is None  # take the lock
        assert await s.load(B, now) == big  # and nothing was done
        assert await s.apply(A, dict(big), [], now=now, **args) is None  # changes count too
        assert await s.load(A, now) == {**small, b"x": b"1"}
        assert await s.lock_acquire(B, b"t", 5)  # nothing holds the lock row either
    finally:
        await s.stop()


async def test_apply_writes_in_one_statement_when_the_lock_is_free(
    schema: str, db: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    s = await _storage(schema, ttl=100, user_keys=(b"_user_id",))
    try:
        now = time.time()
        args: dict[str, Any] = {"max_keys": 3, "max_session": 100, "token": None, "now": now}
        assert await s.apply(A, {b"k": b"v"}, [], **args) == APPLY_ABSENT  # nothing created
        await s.create(A, {b"a": b"1", b"b": b"2"}, now)
        changes = {b"c": b"3", b"_user_id": b'"7"', b"b": b"22"}
        assert await s.apply(A, changes, [b"a", b"x"], **args) == APPLIED
        data = await s.load(A, now)
        assert data == {b"b": b"22", b"c": b"3", b"_user_id": b'"7"'}
        assert list(data) == [b"b", b"c", b"_user_id"]  # the pairs keep their order
        assert await s.user_sessions(b"7", now) == [A]
        assert await s.apply(A, {b"d": b"4"}, [], **args) == APPLY_TOO_MANY_KEYS
        assert await s.apply(A, {b"b": b"x" * 100}, [], **args) == APPLY_TOO_LARGE
        assert await s.load(A, now) == data  # unchanged
        assert await s.apply(A, {}, [b"_user_id"], **{**args, "ttl": 50}) == APPLIED
        assert await s.user_sessions(b"7", now) == []
        assert await s.get_ttl(A, now) == pytest.approx(50)
        assert await s.lock_acquire(A, b"theirs", 5)
        assert await s.apply(A, {b"e": b"5"}, [], **args) == APPLY_LOCKED
        assert await s.apply(A, {b"e": b"5"}, [], **{**args, "token": b"theirs"}) == APPLIED
        await s.lock_release(A, b"theirs")
        assert await s.apply(A, {b"f": b"6"}, [], **{**args, "now": now + 51}) == APPLY_ABSENT
        # Binary keys and values, empty ones too, survive the merge in SQL.
        blob = {bytes(range(256)): b"", b"": bytes(range(255, -1, -1))}
        assert await s.create(B, {b"k": b"\x00\x01"}, now)
        big: dict[str, Any] = {"max_keys": 10, "max_session": 10_000, "token": None, "now": now}
        assert await s.apply(B, blob, [], **big) == APPLIED
        assert await s.load(B, now) == {b"k": b"\x00\x01", **blob}
        # A lock taker finds the lock free after a write (its lapsed lock row is swept).
        assert await s.lock_and_load(B, b"t", 5, now) == (True, {b"k": b"\x00\x01", **blob})
    finally:
        await s.stop()


async def test_lock_and_load_and_save_and_release_are_one_statement_each(
    schema: str, db: psycopg.AsyncConnection[tuple[object, ...]]
) -> None:
    s = await _storage(schema, ttl=100)
    try:
        now = time.time()
        assert await s.lock_and_load(A, b"t1", 5, now) == (True, None)  # locked; nothing there
        await s.lock_release(A, b"t1")
        await s.create(A, {b"k": b"v"}, now)
        assert await s.lock_and_load(A, b"t1", 5, now + 10) == (True, {b"k": b"v"})
        assert await s.get_ttl(A, now + 10) == pytest.approx(100)  # it was an access
        assert await s.lock_and_load(A, b"t2", 5, now) == (False, None)
        batches = int(s.info()["postgres_batches_total"])
        assert await s.save_and_release(A, b"t1", {b"k": b"w"}, now + 10, 30)
        assert s.info()["postgres_batches_total"] == batches + 1
        assert await s.load(A, now + 10) == {b"k": b"w"}
        assert await s.get_ttl(A, now + 10) == pytest.approx(30)
        assert await _one(db, f"SELECT count(*) FROM {schema}.locks") == 0  # released
        # A holder whose lease lapsed and whose lock went to another may not save.
        assert await s.lock_acquire(A, b"t1", 0.01)

        async def taken_over() -> bool:  # once the lease lapsed, by the database's clock
            return await s.lock_acquire(A, b"t2", 5)

        await wait_until_async(taken_over, what="t1's lease to lapse")
        with pytest.raises(LockLost):
            await s.save_and_release(A, b"t1", {b"k": b"lost"}, now + 10, None)
        assert await s.load(A, now + 10) == {b"k": b"w"}
        assert await s.lock_acquire(A, b"t3", 5) is False  # t2's lock was not released
        assert not await s.save_and_release(B, b"t9", {}, now, None)  # absent: nothing saved
    finally:
        await s.stop()


async def test_statements_sent_together_are_transactions_of_their_own(schema: str) -> None:
    # One lane: what is submitted in one loop iteration goes in one round trip.
    s = open_storage(
        postgres_storage_url(schema) + "&timeout=1&max_connections=1", StorageOptions()
    )
    await s.start()
    assert isinstance(s, PostgresStorage)
    try:
        now = time.time()
        await s.create(A, {b"k": b"v"}, now)
        other = await psycopg.AsyncConnection.connect(POSTGRES_URL)
        async with other:
            await other.execute(
                f"SELECT FROM {schema}.times WHERE sid = %s FOR UPDATE".encode(), [A.decode()]
            )
            batches = int(s.info()["postgres_batches_total"])
            ids = [b"%032x" % n for n in range(1, 6)]
            results = await asyncio.gather(
                *[s.create(sid, {b"n": sid}, now) for sid in ids[:2]],
                s.load(A, now),  # waits for the row, then the server cancels it
                *[s.create(sid, {b"n": sid}, now) for sid in ids[2:]],
                return_exceptions=True,
            )
            assert s.info()["postgres_batches_total"] == batches + 1
            await other.rollback()
        assert results[:2] == [True, True] and results[3:] == [True, True, True]
        assert isinstance(results[2], StorageError)
        assert "statement timeout" in str(results[2])
        for sid in ids:  # committed, each on its own, whatever befell a neighbour
            assert await s.load(sid, now) == {b"n": sid}
    finally:
        await s.stop()
