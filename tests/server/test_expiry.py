"""Idle and absolute lifetimes, expiry on the real clock, gc."""

from __future__ import annotations

import time

import pytest

from ..conftest import StartDaemon
from ..helpers import wait_until


@pytest.mark.parametrize("storage", ["memory", "sqlite", "file"])
def test_idle_sessions_expire_and_access_slides_the_lifetime(
    start_daemon: StartDaemon, tmp_path, storage: str
) -> None:
    url = {
        "memory": "memory://",
        "sqlite": f"sqlite://{tmp_path}/s.db",
        "file": f"file://{tmp_path}/files",
    }[storage]
    daemon = start_daemon("--storage", url, "--ttl", "1")
    with daemon.client() as c:
        idle = c.new_session(a="1")
        busy = c.new_session(b="2")
        started = time.monotonic()

        def idle_gone_while_busy_in_use() -> bool:
            # every access slides `busy`'s 1 s lifetime while `idle` runs out
            assert c.cmd(f"open {busy} r") == "ok"
            return c.cmd(f"expires {idle}") == "err Could not open session."

        wait_until(idle_gone_while_busy_in_use, what="the idle session to expire")
        assert time.monotonic() - started >= 0.9  # not before its lifetime
        assert c.cmd(f"open {busy} r") == "ok"
        assert c.cmd("close") == "ok"
        daemon.wait_until_gone(busy)
        fields = dict(x.split("=", 1) for x in c.cmd("stats")[3:].split())
        assert fields["sessions"] == "0"
        assert int(fields["expired_total"]) >= 2


def test_max_lifetime_ends_a_session_however_busy(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--ttl", "60", "--max-lifetime", "1")
    with daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} r") == "ok"
        assert c.cmd("ttl") == "ok 1"
        c.cmd("close")
        started = time.monotonic()

        def ended_though_busy() -> bool:
            opened = c.cmd(f"open {sid} r") == "ok"  # an access: the idle lifetime slides
            c.cmd("close")
            return not opened

        wait_until(ended_though_busy, timeout=3, what="the absolute lifetime to end it")
        assert time.monotonic() - started >= 0.5


def test_ttl_command_gives_one_session_its_own_lifetime(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--ttl", "60")
    with daemon.client() as c:
        short = c.new_session()
        other = c.new_session()
        assert c.cmd(f"open {short} r") == "ok"
        assert c.cmd("ttl 1") == "ok"
        c.cmd("close")
        daemon.wait_until_gone(short, timeout=3)
        assert c.cmd(f"open {other} r") == "ok"


def test_gc_removes_sessions_idle_longer_than_asked(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--ttl", "600")
    with daemon.client() as c:
        old = [c.new_session() for _ in range(3)]
        # idle for more than a second: the daemon's clock says so (599 s left of 600)
        wait_until(lambda: c.cmd(f"expires {old[-1]}") == "ok 599", what="a second to pass")
        fresh = c.new_session()
        assert c.cmd("gc 1") == "ok 3"
        for sid in old:
            assert c.cmd(f"open {sid} r") == "err Could not open session."
        assert c.cmd(f"open {fresh} r") == "ok"
        assert c.cmd("gc 1") == "ok 0"
