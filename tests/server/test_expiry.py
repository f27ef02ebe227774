"""Idle and absolute lifetimes, expiry on the real clock, gc."""

from __future__ import annotations

import time

import pytest

from ..conftest import StartDaemon


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
        for _ in range(6):  # keep `busy` in use for 1.5 s, past its 1 s idle lifetime
            time.sleep(0.25)
            assert c.cmd(f"open {busy} r") == "ok"
        assert c.cmd(f"open {idle} r") == "err Could not open session."
        assert c.cmd(f"open {busy} r") == "ok"
        assert c.cmd("close") == "ok"
        time.sleep(1.6)
        assert c.cmd(f"open {busy} r") == "err Could not open session."
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
        deadline = time.monotonic() + 3
        while c.cmd(f"open {sid} r") == "ok":
            c.cmd("close")
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_ttl_command_gives_one_session_its_own_lifetime(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--ttl", "60")
    with daemon.client() as c:
        short = c.new_session()
        other = c.new_session()
        assert c.cmd(f"open {short} r") == "ok"
        assert c.cmd("ttl 1") == "ok"
        c.cmd("close")
        time.sleep(1.5)
        assert c.cmd(f"open {short} r") == "err Could not open session."
        assert c.cmd(f"open {other} r") == "ok"


def test_gc_removes_sessions_idle_longer_than_asked(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--ttl", "600")
    with daemon.client() as c:
        old = [c.new_session() for _ in range(3)]
        time.sleep(1.2)
        fresh = c.new_session()
        assert c.cmd("gc 1") == "ok 3"
        for sid in old:
            assert c.cmd(f"open {sid} r") == "err Could not open session."
        assert c.cmd(f"open {fresh} r") == "ok"
        assert c.cmd("gc 1") == "ok 0"
