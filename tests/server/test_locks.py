"""Write locks between connections: blocking, FIFO, timeout, release on every exit path."""

from __future__ import annotations

import threading
import time

from ..conftest import StartDaemon
from ..helpers import Daemon, LineClient


def _open_in_thread(
    client: LineClient, line: str, replies: list[tuple[str, float]]
) -> threading.Thread:
    def run() -> None:
        started = time.monotonic()
        reply = client.cmd(line)
        replies.append((reply, time.monotonic() - started))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_reader_never_blocks_and_writer_waits_until_close(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as a, memory_daemon.client() as b, memory_daemon.client() as r:
        sid = a.new_session(n="0")
        assert a.cmd(f"open {sid} w") == "ok"
        a.cmd("put n 1")
        assert r.cmd(f"open {sid} r") == "ok"  # no wait for a reader
        assert r.cmd("get n") == "ok 0"
        replies: list[tuple[str, float]] = []
        waiter = _open_in_thread(b, f"open {sid} w", replies)
        memory_daemon.wait_for_lock_waiters(1)
        assert replies == []  # still blocked
        assert a.cmd("close") == "ok"
        waiter.join(5)
        assert replies[0][0] == "ok"
        assert b.cmd("get n") == "ok 1"  # sees what a committed
        assert b.cmd("close") == "ok"


def test_lock_wait_times_out_with_an_error(memory_daemon: Daemon) -> None:
    # memory_daemon runs with --lock-timeout 1
    with memory_daemon.client() as a, memory_daemon.client() as b:
        sid = a.new_session()
        assert a.cmd(f"open {sid} w") == "ok"
        started = time.monotonic()
        assert b.cmd(f"open {sid} w") == "err Session is locked."
        assert 0.8 < time.monotonic() - started < 5
        assert b.cmd("get x") == "err No session opened."
        assert a.cmd("put x 1") == "ok"  # the holder is unaffected
        assert a.cmd("close") == "ok"
        assert b.cmd(f"open {sid} w") == "ok"


def test_waiters_are_served_in_arrival_order(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://")
    holder = daemon.client()
    sid = holder.new_session()
    assert holder.cmd(f"open {sid} w") == "ok"
    clients = [daemon.client() for _ in range(4)]
    order: list[int] = []
    lock = threading.Lock()

    def wait_then_append(i: int, c: LineClient) -> None:
        assert c.cmd(f"open {sid} w") == "ok"
        with lock:
            order.append(i)
        assert c.cmd(f"put w{i} x") == "ok"
        assert c.cmd("close") == "ok"

    threads = []
    for i, c in enumerate(clients):
        t = threading.Thread(target=wait_then_append, args=(i, c))
        t.start()
        threads.append(t)
        daemon.wait_for_lock_waiters(i + 1)  # make the arrival order unambiguous
    holder.cmd("close")
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3]
    assert holder.cmd(f"open {sid} r") == "ok"
    assert holder.cmd("keys") == "ok w0|w1|w2|w3"
    for c in [holder, *clients]:
        c.close()


def test_disconnect_discards_changes_and_releases_the_lock(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as b:
        a = memory_daemon.client()
        sid = a.new_session(keep="1")
        assert a.cmd(f"open {sid} w") == "ok"
        a.cmd("put lost 1")
        replies: list[tuple[str, float]] = []
        waiter = _open_in_thread(b, f"open {sid} w", replies)
        memory_daemon.wait_for_lock_waiters(1)
        a.close()
        waiter.join(5)
        assert replies[0][0] == "ok"
        assert b.cmd("keys") == "ok keep"


def test_commit_releases_the_lock(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as a, memory_daemon.client() as b:
        sid = a.new_session()
        assert a.cmd(f"open {sid} w") == "ok"
        a.cmd("put x 1")
        assert a.cmd("commit") == "ok"
        assert b.cmd(f"open {sid} w") == "ok"
        assert b.cmd("get x") == "ok 1"


def test_destroy_and_regenerate_release_the_lock(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as a, memory_daemon.client() as b:
        sid = a.new_session()
        assert a.cmd(f"open {sid} w") == "ok"
        replies: list[tuple[str, float]] = []
        waiter = _open_in_thread(b, f"open {sid} w", replies)
        memory_daemon.wait_for_lock_waiters(1)
        assert a.cmd("regenerate_id").startswith("ok ")
        waiter.join(5)
        assert replies[0][0] == "err Could not open session."  # the old id is gone
        sid2 = a.new_session()
        assert a.cmd(f"open {sid2} w") == "ok"
        waiter = _open_in_thread(b, f"open {sid2} w", replies)
        memory_daemon.wait_for_lock_waiters(1)
        assert a.cmd("destroy") == "ok"
        waiter.join(5)
        assert replies[1][0] == "err Could not open session."


def test_a_destroyed_session_is_not_brought_back_by_a_late_writer(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as writer, memory_daemon.client() as logout:
        sid = writer.new_session(user="42")
        assert writer.cmd(f"open {sid} w") == "ok"
        writer.cmd("put cart 3")
        assert logout.cmd(f"open {sid} r") == "ok"
        assert logout.cmd("destroy") == "ok"
        assert writer.cmd("close") == "err Session no longer exists."
        assert logout.cmd(f"open {sid} r") == "err Could not open session."


def test_a_holder_past_its_lease_loses_the_lock(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--lock-lease", "0.5", "--lock-timeout", "5")
    with daemon.client() as a, daemon.client() as b:
        sid = a.new_session()
        assert a.cmd(f"open {sid} w") == "ok"
        a.cmd("put slow 1")
        started = time.monotonic()
        assert b.cmd(f"open {sid} w") == "ok"  # granted when a's lease lapses
        assert time.monotonic() - started < 3
        assert b.cmd("put fast 1") == "ok"
        assert a.cmd("put more 1") == "err Lock lost: the lease expired."
        assert a.cmd("close") == "err Lock lost: the lease expired."
        assert b.cmd("close") == "ok"
        assert b.cmd(f"open {sid} r") == "ok"
        assert b.cmd("keys") == "ok fast"
