"""Bounded output: a client that pipelines big reads and never reads the replies holds a few
MB of the daemon's memory, not their sum; it goes on when it reads; past the limit it is
dropped."""

from __future__ import annotations

import socket

from ..conftest import StartDaemon
from .attack import FIGURES, raw, rss, stats, until, until_closed
from .probe import PingProbe

MIB = 1024 * 1024


def test_a_client_that_never_reads_holds_a_few_mb(start_daemon: StartDaemon) -> None:
    """Before: 150 pipelined gets of a 1 MiB value, never read, grew the daemon ~255 MB."""
    daemon = start_daemon("--storage", "memory://")
    value = "x" * (MIB - 64)
    with daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd(f"put k {value}") == "ok"
        assert c.cmd("close") == "ok"
    before = rss(daemon)
    hog = raw(daemon, rcvbuf=4096)
    with PingProbe(
        daemon.host, daemon.port, daemon_pid=daemon.pid, name="non-reading client"
    ) as probe:
        unloaded = probe.baseline()
        hog.sendall(f"open {sid} r\r\n".encode() + b"get k\r\n" * 150)
        until(lambda: stats(daemon)["connections_blocked"] == "1", what="the hog to block")
        blocked = stats(daemon)
        grown = rss(daemon) - before
        probe.check(unloaded, (unloaded[1], probe.baseline()[1]))  # others still served
    FIGURES.append(
        ("RSS growth under a non-reading client (150 x get 1 MiB)", f"{grown / MIB:.1f} MiB")
    )
    assert grown < 16 * MIB, f"the daemon grew {grown / MIB:.1f} MiB"
    assert int(blocked["output_unsent"]) < 4 * MIB
    # It goes on as the client reads: every reply, whole and in order.
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
    hog.settimeout(30)
    expected = len(b"ok\r\n") + 150 * len(f"ok {value}\r\n")
    received = 0
    while received < expected:
        chunk = hog.recv(1 << 20)
        assert chunk
        received += len(chunk)
    assert received == expected
    hog.close()
    assert stats(daemon)["connections_blocked"] == "0"


def test_a_reply_past_the_output_limit_drops_the_client(start_daemon: StartDaemon) -> None:
    """Replies no session limit bounds (pages of 10,000 ids, about 330 KB each), pipelined and
    never read: once the kernel's socket buffers are full, the next page is past a 64 KiB
    --output-limit and the client is dropped; the others go on."""
    daemon = start_daemon(
        "--storage",
        "memory://",
        "--max-session",
        "16k",
        "--output-high-water",
        "16k",
        "--output-limit",
        "64k",
    )
    with daemon.client() as c:
        c.send(b"create\r\n" * 10_000)
        for _ in range(10_000):
            assert c.read_line().startswith("ok ")
    hog = raw(daemon, rcvbuf=4096)
    hog.sendall(b"sessions 0 10000\r\n" * 40)
    until(lambda: "does not read its replies" in daemon.log, what="the log line")
    assert len(until_closed(hog)) < 40 * 330_000
    with daemon.client() as c:
        assert c.cmd("ping") == "ok pong"


def test_replies_held_for_a_barrier_count_as_unsent(start_daemon: StartDaemon) -> None:
    """On the durable default, write replies wait for the write-behind barrier; a pipeline of
    reads behind them waits too, and is bounded the same way."""
    daemon = start_daemon("--fsync", "always")
    value = "y" * (MIB - 64)
    with daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd(f"put k {value}") == "ok"
        assert c.cmd("commit") == "ok"
    before = rss(daemon)
    hog = raw(daemon, rcvbuf=4096)
    hog.sendall(
        f"open {sid} w\r\nput n 1\r\ncommit\r\n".encode() + b"get k\r\n" * 40 + b"close\r\n"
    )
    until(lambda: stats(daemon)["connections_blocked"] == "1", what="the hog to block")
    assert rss(daemon) - before < 16 * MIB
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
    hog.shutdown(socket.SHUT_WR)
    received = until_closed(hog)
    assert received.count(b"\n") == 44
