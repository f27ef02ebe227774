"""SIGTERM/SIGINT: stop accepting, finish what is in flight, close idle clients, exit 0."""

from __future__ import annotations

import signal
import socket
import threading
import time

import pytest

from ..conftest import StartDaemon
from ..helpers import wait_until


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_with_idle_connections_is_quick_and_clean(
    start_daemon: StartDaemon, signum: int
) -> None:
    daemon = start_daemon("--storage", "memory://")
    idle = [daemon.client() for _ in range(5)]
    for c in idle:
        assert c.cmd("ping") == "ok pong"
    started = time.monotonic()
    daemon.signal(signum)
    assert daemon.wait() == 0
    assert time.monotonic() - started < 5
    for c in idle:
        assert c.closed_by_server()
        c.close()
    assert "stopped" in daemon.log
    with pytest.raises(OSError):
        socket.create_connection((daemon.host, daemon.port), timeout=1)


def test_a_command_in_flight_finishes_before_exit(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--lock-timeout", "30")
    holder = daemon.client()
    sid = holder.new_session()
    assert holder.cmd(f"open {sid} w") == "ok"
    waiter = daemon.client()
    replies: list[str] = []
    thread = threading.Thread(target=lambda: replies.append(waiter.cmd(f"open {sid} w")))
    thread.start()
    daemon.wait_for_lock_waiters(1)
    daemon.signal(signal.SIGTERM)
    wait_until(lambda: "shutting down" in daemon.log, what="the daemon to start its drain")
    holder.close()  # the holder goes away; the waiter gets the lock and its reply
    thread.join(10)
    assert replies == ["ok"]
    assert daemon.wait() == 0
    waiter.close()
