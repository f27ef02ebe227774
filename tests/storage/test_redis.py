"""What is particular to the Redis container, against the real Redis of this machine: native
TTLs, the key layout, the one-step write, URL checks.  (The contract is in test_contract.py.)"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from sessionserver.storage import Storage, StorageError, StorageOptions, check_url, open_storage
from sessionserver.storage.base import (
    APPLIED,
    APPLY_ABSENT,
    APPLY_LOCKED,
    APPLY_TOO_LARGE,
    APPLY_TOO_MANY_KEYS,
)

from ..helpers import wait_until, wait_until_async
from ..stores import REDIS_URL, drop_redis_prefix, redis_storage_url, unique_name

pytestmark = pytest.mark.anyio

A = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def prefix() -> Iterator[str]:
    name = unique_name("redis")
    yield name
    drop_redis_prefix(name)


@pytest.fixture
def raw() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
async def make(prefix: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[Storage] = []

    async def factory(**options: Any) -> Storage:
        storage = open_storage(redis_storage_url(prefix), StorageOptions(**options))
        await storage.start()
        opened.append(storage)
        return storage

    yield factory
    for storage in opened:
        await storage.stop()


async def test_redis_expires_sessions_by_itself(make: Any, prefix: str, raw: redis.Redis) -> None:
    s = await make(ttl=1)
    await s.create(A, {b"k": b"v"}, time.time())
    key = f"{prefix}:s:{{{A.decode()}}}"
    assert 0 < raw.pttl(key) <= 1000
    # Gone from Redis itself, without any sweep of ours.
    wait_until(lambda: raw.exists(key) == 0, what="Redis to expire the key")
    assert await s.purge_expired(time.time()) == 0


async def test_an_access_refreshes_the_ttl_and_leaves_the_pairs(
    make: Any, prefix: str, raw: redis.Redis
) -> None:
    s = await make(ttl=100)
    now = time.time()
    await s.create(A, {b"k": b"v"}, now)
    key = f"{prefix}:s:{{{A.decode()}}}"
    raw.pexpire(key, 5000)  # as if most of the lifetime had passed
    assert await s.load(A, time.time()) == {b"k": b"v"}
    assert raw.pttl(key) > 90_000
    assert raw.hget(key, "k") == b"v"


async def test_a_session_and_its_lock_share_a_cluster_slot(make: Any, prefix: str) -> None:
    s = await make()
    await s.create(A, {}, time.time())
    assert await s.lock_acquire(A, b"t", 5)
    session, lock = f"{prefix}:s:{{{A.decode()}}}", f"{prefix}:l:{{{A.decode()}}}"
    assert key_slot(session.encode()) == key_slot(lock.encode())


async def test_apply_writes_in_one_step_when_the_lock_is_free(make: Any) -> None:
    s = await make(ttl=100, user_keys=(b"_user_id",))
    now = time.time()
    args: dict[str, Any] = {"max_keys": 3, "max_session": 100, "token": None, "now": now}
    assert await s.apply(A, {b"k": b"v"}, [], **args) == APPLY_ABSENT  # nothing created
    await s.create(A, {b"a": b"1", b"b": b"2"}, now)
    assert await s.apply(A, {b"c": b"3", b"_user_id": b'"7"'}, [b"a", b"x"], **args) == APPLIED
    assert await s.load(A, now) == {b"b": b"2", b"c": b"3", b"_user_id": b'"7"'}
    assert await s.user_sessions(b"7", now) == [A]
    assert await s.apply(A, {b"d": b"4"}, [], **args) == APPLY_TOO_MANY_KEYS
    assert await s.apply(A, {b"b": b"x" * 100}, [], **args) == APPLY_TOO_LARGE
    assert await s.load(A, now) == {b"b": b"2", b"c": b"3", b"_user_id": b'"7"'}  # unchanged
    assert await s.apply(A, {}, [b"_user_id"], **args) == APPLIED
    assert await s.user_sessions(b"7", now) == []
    assert await s.lock_acquire(A, b"theirs", 5)
    assert await s.apply(A, {b"e": b"5"}, [], **args) == APPLY_LOCKED
    assert await s.apply(A, {b"e": b"5"}, [], **{**args, "token": b"theirs"}) == APPLIED
    await s.lock_release(A, b"theirs")
    assert await s.apply(A, {b"f": b"6"}, [], **{**args, "now": now + 101}) == APPLY_ABSENT


def test_bad_urls_are_one_line_errors() -> None:
    for url, words in [
        ("redis://127.0.0.1:6379/abc", "the database must be a number"),
        ("redis://127.0.0.1:6379/0?prefix=a{b}", "the prefix must be plain text"),
        ("redis+cluster://127.0.0.1:7000/3", "only database 0"),
        ("redis://127.0.0.1:6379/0?timeout=0", "timeout must be"),
        ("redis://:secret@127.0.0.1:99999/0", "bad port"),
    ]:
        with pytest.raises(ValueError, match=words) as caught:
            check_url(url)
        assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    with pytest.raises(ValueError, match=r"pip install 'sessionserver\[redis\]'"):
        check_url("redis://127.0.0.1:6379/0")


async def test_one_step_writes_of_more_keys_than_lua_unpacks_at_once(make: Any) -> None:
    """Lua's ``unpack()`` takes about 8,000 values: sets and removals go in batches."""
    s = await make()
    now = time.time()
    many = {b"k%d" % i: b"v" for i in range(9000)}
    limits: dict[str, Any] = {"max_keys": 10_000, "max_session": 10**6, "token": None}
    await s.create(A, many, now)  # the create script's HSET
    assert await s.apply(A, {}, list(many), now=now, **limits) == APPLIED  # HDEL
    assert await s.load(A, now) == {}
    assert await s.apply(A, many, [], now=now, **limits) == APPLIED  # HSET again
    assert await s.load(A, now) == many


async def test_a_user_index_update_that_fails_after_its_save_is_repaired(
    make: Any, prefix: str, raw: redis.Redis
) -> None:
    """The index is another slot, so it is updated after the save's script.  When that fails
    (here the user's set is not a set, so ``SADD`` answers WRONGTYPE; in life Redis out of
    memory, or the connection lost), the save stands and is answered as done, and the index
    follows in the background: log-out-everywhere does not miss the session for long."""
    s = await make(user_keys=(b"_user_id",))
    now = time.time()
    assert await s.create(A, {b"x": b"1"}, now)
    raw.set(f"{prefix}:u:{{7}}", "not a set")
    assert await s.save(A, {b"_user_id": b'"7"'}, now) is True
    assert await s.load(A, now) == {b"_user_id": b'"7"'}
    raw.delete(f"{prefix}:u:{{7}}")

    async def indexed() -> bool:
        return bool(await s.user_sessions(b"7", now) == [A])

    await wait_until_async(indexed, what="the user index repaired")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from ..tls_redis import TlsRedis

    server = TlsRedis(tmp_path_factory.mktemp("tls-redis"))
    yield server
    server.stop()


async def test_rediss_speaks_tls_and_checks_the_certificate(tls_redis: Any) -> None:
    s = open_storage(tls_redis.url("tls"), StorageOptions())
    await s.start()
    try:
        now = time.time()
        assert await s.create(A, {b"k": b"v"}, now)
        assert await s.load(A, now) == {b"k": b"v"}
        assert s.describe().startswith("rediss://127.0.0.1:")
    finally:
        await s.stop()
    # Without the CA that signed it, the server's certificate is refused: one clear error.
    plain = f"rediss://127.0.0.1:{tls_redis.port}/0?prefix=tls&timeout=2"
    untrusted = open_storage(plain, StorageOptions())
    with pytest.raises(StorageError, match=r"redis: .*certificate"):
        await untrusted.start()
    await untrusted.stop()


async def test_lock_and_load_is_one_step(make: Any, prefix: str, raw: redis.Redis) -> None:
    s = await make(ttl=100)
    now = time.time()
    assert await s.lock_and_load(A, b"t1", 5, now) == (True, None)  # locked; nothing there
    await s.lock_release(A, b"t1")
    await s.create(A, {b"k": b"v"}, now)
    key = f"{prefix}:s:{{{A.decode()}}}"
    raw.pexpire(key, 5000)
    assert await s.lock_and_load(A, b"t1", 5, time.time()) == (True, {b"k": b"v"})
    assert raw.pttl(key) > 90_000  # it was an access
    assert await s.lock_and_load(A, b"t2", 5, time.time()) == (False, None)
    assert await s.lock_renew([(A, b"t1")], 5) == [True]


async def test_scripts_the_server_forgot_are_sent_in_full(
    make: Any, prefix: str, raw: redis.Redis
) -> None:
    # After a SCRIPT FLUSH (or a restart of Redis behind the same address) every call by SHA
    # is answered NOSCRIPT: each is sent again in full, one-step writes and locks included,
    # and what the call does and returns is the same.
    s = await make(ttl=100, user_keys=(b"_user_id",))
    now = time.time()
    args: dict[str, Any] = {"max_keys": 10, "max_session": 1000, "token": None, "now": now}
    await s.create(A, {b"k": b"v"}, now)
    raw.script_flush()
    assert await s.load(A, now) == {b"k": b"v"}  # touch + HGETALL, the touch sent again
    raw.script_flush()
    assert await s.apply(A, {b"_user_id": b'"7"'}, [], **args) == APPLIED
    assert await s.user_sessions(b"7", now) == [A]  # the index followed the write
    raw.script_flush()
    assert await s.lock_and_load(A, b"t", 5, now) == (True, {b"k": b"v", b"_user_id": b'"7"'})
    raw.script_flush()
    assert await s.save_and_release(A, b"t", {b"k": b"w"}, now, None) is True
    assert await s.user_sessions(b"7", now) == []  # the save named no user: unindexed
    assert raw.exists(f"{prefix}:l:{{{A.decode()}}}") == 0  # released with the save
    raw.script_flush()
    assert await s.peek(A, now) is not None
    assert await s.load(b"f" * 32, now) is None  # absent, by the same path
