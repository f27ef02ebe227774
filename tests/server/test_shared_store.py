"""Several daemons on one Redis or PostgreSQL behave as one server.

Two real daemon processes on different ports share a store (the real servers of this machine,
and a three-node Redis Cluster started for the run; each test under its own key prefix or
schema): read-your-writes, lock contention and its
order, a lock holder killed with ``kill -9``, expiry, the user index, and a pooled client
failing over when its daemon dies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessionserver import SessionClient

from ..helpers import Daemon, LineClient, wait_until
from ..stores import (
    drop_postgres_schema,
    drop_redis_prefix,
    postgres_storage_url,
    redis_storage_url,
    unique_name,
)

STORES = ["redis", "redis_cluster", "postgres"]

Start = Callable[..., Daemon]


@pytest.fixture(params=STORES)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Start]:
    """Start daemons on one fresh store: ``pair(*extra_args)`` -> a daemon."""
    kind = request.param
    unique = unique_name("shared")
    if kind == "redis":
        url = redis_storage_url(unique)
    elif kind == "redis_cluster":
        base = request.getfixturevalue("redis_cluster")
        url = redis_storage_url(unique, base)
    else:
        url = postgres_storage_url(unique)
    started: list[Daemon] = []

    def start(*args: str) -> Daemon:
        daemon = Daemon.start(tmp_path / f"d{len(started)}", "--storage", url, *args)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
    if kind == "redis":
        drop_redis_prefix(unique)
    elif kind == "redis_cluster":
        drop_redis_prefix(unique, base)
    else:
        drop_postgres_schema(unique)


def test_a_session_written_through_one_daemon_is_read_through_the_other(pair: Start) -> None:
    a, b = pair(), pair()
    with a.client() as ca, b.client() as cb:
        sid = ca.new_session(today="2004-11-09", foo="bar")
        assert cb.cmd(f"open {sid} r") == "ok"
        assert cb.cmd("keys") == "ok today|foo"
        assert cb.cmd("get today") == "ok 2004-11-09"
        assert cb.cmd("close") == "ok"
        assert cb.cmd(f"open {sid} w") == "ok"
        assert cb.cmd("put foo baz") == "ok"
        assert cb.cmd("destroy") == "ok"
        assert ca.cmd(f"open {sid} r") == "err Could not open session."


def test_a_lock_held_through_one_daemon_makes_a_writer_on_the_other_wait(pair: Start) -> None:
    a, b = pair(), pair()
    with a.client() as ca, b.client() as cb, b.client() as cb2:
        sid = ca.new_session(n="0")
        assert ca.cmd(f"open {sid} w") == "ok"
        assert ca.cmd("put n 1") == "ok"
        cb.send(f"open {sid} w\r\nget n\r\nput n 2\r\nclose\r\n")
        cb.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            cb.read_line()  # waiting for the lock held through daemon A
        # a reader on B is not held up, and sees the last committed state
        assert cb2.cmd(f"open {sid} r") == "ok" and cb2.cmd("get n") == "ok 0"
        assert cb2.cmd("close") == "ok"
        assert ca.cmd("close") == "ok"
        cb.sock.settimeout(10)
        assert [cb.read_line() for _ in range(4)] == ["ok", "ok 1", "ok", "ok"]
        assert ca.cmd(f"open {sid} r") == "ok" and ca.cmd("get n") == "ok 2"


def test_writers_on_both_daemons_take_turns_and_lose_nothing(pair: Start) -> None:
    a, b = pair(), pair()
    with a.client() as c:
        sid = c.new_session()
    errors: list[str] = []

    def writer(daemon: Daemon, name: str) -> None:
        with daemon.client() as c:
            for i in range(15):
                replies = c.pipeline(f"open {sid} w", f"put {name}{i} x", "close")
                if replies != ["ok", "ok", "ok"]:
                    errors.append(f"{name}{i}: {replies}")

    threads = [
        threading.Thread(target=writer, args=(d, f"{d.port}w{n}")) for d in (a, b) for n in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with b.client() as c:
        assert c.cmd(f"open {sid} r") == "ok"
        assert len(c.cmd("keys")[3:].split("|")) == 2 * 3 * 15


def test_a_wait_for_a_lock_on_another_daemon_is_bounded(pair: Start) -> None:
    a, b = pair(), pair("--lock-timeout", "1")
    with a.client() as ca, b.client() as cb:
        sid = ca.new_session()
        assert ca.cmd(f"open {sid} w") == "ok"
        started = time.monotonic()
        assert cb.cmd(f"open {sid} w") == "err Session is locked."
        assert 0.9 <= time.monotonic() - started < 5
        assert ca.cmd("put still mine") == "ok" and ca.cmd("close") == "ok"


def test_a_live_holder_keeps_its_lock_past_the_store_lease(pair: Start) -> None:
    # --lock-lease 6: each daemon's store lease is 2 s, renewed every 2/3 s while held.
    a, b = pair("--lock-lease", "6"), pair("--lock-timeout", "1")
    with a.client() as ca, b.client() as cb:
        sid = ca.new_session()
        assert ca.cmd(f"open {sid} w") == "ok"
        held_since = time.monotonic()
        # B keeps trying (each try waits its 1 s lock timeout) well past A's 2 s store lease
        while time.monotonic() - held_since < 3.5:
            assert cb.cmd(f"open {sid} w") == "err Session is locked."
        assert ca.cmd("put k v") == "ok" and ca.cmd("close") == "ok"
        assert cb.cmd(f"open {sid} w") == "ok" and cb.cmd("get k") == "ok v"


def test_a_daemon_killed_while_holding_a_lock_loses_it_when_its_lease_lapses(
    pair: Start,
) -> None:
    # A dead daemon's store locks lapse after the store lease (10 s with the default
    # --lock-lease): a waiter that waits longer than that gets the lock.
    a, b = pair(), pair("--lock-timeout", "15")
    with a.client() as ca:
        sid = ca.new_session(k="before")
        assert ca.cmd(f"open {sid} w") == "ok"
        assert ca.cmd("put k uncommitted") == "ok"
        a.kill9()
    with b.client(timeout=40) as cb:
        started = time.monotonic()
        assert cb.cmd(f"open {sid} w") == "ok"
        waited = time.monotonic() - started
        assert waited <= 11, waited  # the store lease is 10 s
        assert cb.cmd("get k") == "ok before"  # the dead holder's changes never landed


def test_expiry_holds_across_daemons(pair: Start) -> None:
    a, b = pair("--ttl", "2"), pair("--ttl", "2")
    with a.client() as ca, b.client() as cb:
        sid = ca.new_session(k="v")
        started = time.monotonic()
        for slide, other in ((cb, ca), (ca, cb), (cb, ca)):
            # a second has passed by the store's account: an access through either slides it
            def a_second_passed(c: LineClient = other) -> bool:
                return c.cmd(f"expires {sid}") == "ok 1"

            wait_until(a_second_passed, what="a second to pass")
            assert slide.cmd(f"open {sid} r") == "ok" and slide.cmd("close") == "ok"
            assert other.cmd(f"expires {sid}") == "ok 2"
        # three slides, each after a second or more: alive past its 2 s lifetime while in use
        assert time.monotonic() - started > 2.5
        b.wait_until_gone(sid)
        assert ca.cmd(f"open {sid} r") == "err Could not open session."


def test_the_user_index_works_across_daemons(pair: Start) -> None:
    a, b = pair(), pair()
    url_a = f"sessionserver://{a.host}:{a.port}"
    url_b = f"sessionserver://{b.host}:{b.port}"
    with SessionClient(url_a) as ca, SessionClient(url_b) as cb:
        one = ca.create({"_user_id": '"42"'})
        two = cb.create({"_user_id": "42", "cart": "3"})
        other = ca.create({"_user_id": '"7"'})
        assert sorted(cb.user_sessions(42)) == sorted([one, two])
        assert cb.destroy_user("42", keep=two) == 1
        assert ca.user_sessions("42") == [two]
        assert ca.read(two)["cart"] == b"3"
        assert cb.user_sessions(7) == [other]


def test_a_pooled_client_fails_over_when_its_daemon_dies(pair: Start) -> None:
    a, b = pair(), pair()
    url = f"sessionserver://{a.host}:{a.port},{b.host}:{b.port}"
    with SessionClient(url) as client:
        sid = client.create({"k": "v"})
        errors: list[BaseException] = []
        reads = 0
        stop = threading.Event()

        def reader() -> None:
            nonlocal reads
            while not stop.is_set():
                try:
                    assert client.read(sid) == {"k": b"v"}
                    reads += 1
                except BaseException as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: reads >= 20, what="reads through the pool")
        before = reads
        a.kill9()
        wait_until(lambda: reads >= before + 100 or bool(errors), what="reads after the kill")
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
        assert reads > before  # reads went on through daemon B


def test_write_and_create_carry_a_lifetime_seen_by_the_other_daemon(pair: Start) -> None:
    a, b = pair(), pair()
    with a.client() as ca, b.client() as cb:
        sid = ca.cmd('create 300 a:1:{s:1:"a";s:1:"1";}')[3:]
        assert cb.cmd(f"expires {sid}") in ("ok 300", "ok 299")
        assert cb.cmd(f'write {sid} ttl 7200 a:1:{{s:1:"b";s:1:"2";}}') == "ok"
        assert ca.cmd(f"expires {sid}") in ("ok 7200", "ok 7199")
        assert ca.cmd(f"read {sid}") == 'ok a:2:{s:1:"a";s:1:"1";s:1:"b";s:1:"2";}'


def test_read_and_write_withttl_through_either_daemon(pair: Start) -> None:
    a, b = pair(), pair()
    with a.client() as ca, b.client() as cb:
        sid = ca.cmd('create 400 a:1:{s:1:"a";s:1:"1";}')[3:]
        assert cb.cmd(f"read {sid} withttl") in (
            'ok 400 a:1:{s:1:"a";s:1:"1";}',
            'ok 399 a:1:{s:1:"a";s:1:"1";}',
        )
        assert ca.cmd(f"write {sid} withttl a:0:{{}}") in ("ok 400", "ok 399")


def test_a_one_command_write_into_a_big_session(pair: Start) -> None:
    """Nine hundred pairs: PostgreSQL takes the lock, loads and saves instead of merging them
    in one statement (whose walk of the pairs grows faster than they do); the outcome is the
    same on every store."""
    a, b = pair(), pair()
    many = {f"k{i}": f"value {i}" for i in range(900)}
    with SessionClient(f"sessionserver://{a.host}:{a.port}") as ca:
        with SessionClient(f"sessionserver://{b.host}:{b.port}") as cb:
            sid = ca.create(many)
            cb.write(sid, {"k1": "changed", "new": "1"}, ["k2"])
            got = ca.read(sid)
    assert len(got) == 900 and got["k1"] == b"changed" and got["new"] == b"1"
    assert "k2" not in got and got["k899"] == b"value 899"
