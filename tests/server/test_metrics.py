"""The pure parts of the admin figures, in process: histograms, the slow log on a fake clock, and
the instrumented command tables of a real (unstarted) daemon on memory://."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sessionserver.server.config import ServerConfig
from sessionserver.server.connection import ServerConnection
from sessionserver.server.metrics import BOUNDS, SAMPLE, Histogram, SlowLog
from sessionserver.server.server import Server
from sessionserver.server.sessions.state import ConnectionState


def test_a_histogram_is_cumulative_and_interpolates_as_prometheus_does() -> None:
    h = Histogram()
    for _ in range(10):
        h.observe(0.0015)  # in (0.001, 0.0025]
    h.observe(0.001)  # on a bound: in the bucket it bounds (le)
    h.observe(100.0, weight=4)  # beyond the last bound: +Inf, weighed
    assert h.count == 15
    assert h.total == pytest.approx(10 * 0.0015 + 0.001 + 400)
    buckets = dict(h.cumulative())
    assert (
        buckets[0.0005] == 0
        and buckets[0.001] == 1
        and buckets[0.000001] == 0
        and buckets[0.0025] == 11
    )
    assert buckets[30.0] == 11 and buckets[float("inf")] == 15
    assert len(buckets) == len(BOUNDS) + 1
    # rank 7.5 of 15 lies in (0.001, 0.0025], 6.5 of its 10 observations in.
    assert h.quantile(0.5) == pytest.approx(0.001 + 0.0015 * 6.5 / 10)
    assert h.quantile(0.99) == 30.0  # in +Inf: the last bound, as histogram_quantile says
    assert Histogram().quantile(0.5) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(sid: bytes | None = None) -> ConnectionState:
    server = Server(ServerConfig(storage="memory://"))
    st = ConnectionState(server.manager, server.tables, token=None)
    st.sid = sid
    st.peer = "127.0.0.1:5000"
    return st


def test_the_slow_log_keeps_the_slowest_of_the_last_window_or_two() -> None:
    clock = Clock()
    slow = SlowLog(size=3, window=60, clock=clock)
    st = state(b"abcdef0123456789abcdef0123456789")
    for ms in (5, 1, 9, 3, 7):
        if ms / 1000 > slow.floor:
            slow.add(ms / 1000, "get", st.sid, st.peer)
    assert [e["seconds"] for e in slow.slowest()] == [0.009, 0.007, 0.005]
    assert slow.floor == 0.005
    first = slow.slowest()[0]
    assert first["session"] == "abcdef01" and first["peer"] == "127.0.0.1:5000"
    clock.now += 61  # a new window: the last one is still shown, and anything gets in again
    assert slow.floor == 0.005
    slow.add(0.002, "open", b"ffff0000ffff0000ffff0000ffff0000", "")
    assert slow.floor == 0.0
    shown = slow.slowest()
    assert [e["seconds"] for e in shown] == [0.009, 0.007, 0.005]
    clock.now += 61
    assert [(e["command"], e["session"]) for e in slow.slowest()] == [("open", "ffff0000")]
    clock.now += 121  # two windows without a slow command: nothing left
    assert slow.slowest() == []


class Transport:
    """Where the connection's replies go (the socket's end of asyncio's Transport)."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.written = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.out.append(data)
        self.written.set()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass  # the connection's output bound (nothing is ever unsent here)

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass


def test_counts_are_exact_and_sampled_times_weigh_what_they_stand_for() -> None:
    async def main() -> tuple[Server, Transport]:
        server = Server(ServerConfig(storage="memory://", admin_port=0, lock_timeout=0.05))
        await server.storage.start()
        conn, other = ServerConnection(server), ServerConnection(server)
        out, other_out = Transport(), Transport()
        conn.connection_made(out)  # type: ignore[arg-type]
        other.connection_made(other_out)  # type: ignore[arg-type]
        conn.data_received(b"ping\r\n" * 100)
        conn.data_received(b"new\r\n")
        sid = out.out[-1][3:-2]
        other.data_received(b"open %s w\r\n" % sid)  # waits for the lock, then times out
        async with asyncio.timeout(10):
            await other_out.written.wait()  # the timed-out wait's reply
        assert other_out.out == [b"err Session is locked.\r\n"]
        return server, out

    server, out = asyncio.run(main())
    commands = server.metrics.commands
    assert commands["ping"].calls == 100
    assert commands["ping"].histogram.count == 100 // SAMPLE * SAMPLE  # 6 timed, 16 each
    assert commands["new"].calls == 1 and commands["open"].calls == 1
    assert commands["open"].histogram.count == 1  # it waited: always timed, counted once
    assert commands["open"].histogram.total >= 0.05
    assert commands["get"].calls == 0
    assert b"".join(out.out).count(b"+PONG") + b"".join(out.out).count(b"ok pong") == 100
    assert server.counters.replies == {"locked": 1}


def test_without_the_admin_listener_the_tables_are_left_alone() -> None:
    from sessionserver.server.tables import TABLES

    assert Server(ServerConfig(storage="memory://")).tables is TABLES
    assert Server(ServerConfig(storage="memory://", admin_port=0)).tables is not TABLES
