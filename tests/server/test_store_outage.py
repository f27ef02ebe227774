"""When the shared store goes away, requests get a clear ``err`` within the storage timeout, the
daemon stays up, nothing acknowledged is lost, and it recovers by itself when the store is back.

The daemon reaches the real Redis or PostgreSQL through a proxy the test can cut: ``refuse``
(the server is down: connections drop and are refused) or ``blackhole`` (a partition: nothing
answers, only timeouts tell).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from ..helpers import Daemon, LineClient, wait_until
from ..proxy import Proxy
from ..stores import daemon_behind_proxy

STORES = ["redis", "postgres"]
TIMEOUT = 1.0


@pytest.fixture(params=STORES)
def behind_proxy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Daemon, Proxy]]:
    with daemon_behind_proxy(tmp_path, request.param, "--lock-timeout", "2", timeout=TIMEOUT) as d:
        yield d


def _php(**pairs: str) -> str:
    """The changes of a text-framing ``write``: PHP serialize() of the pairs."""
    items = "".join(f's:{len(k)}:"{k}";s:{len(v)}:"{v}";' for k, v in pairs.items())
    return f"a:{len(pairs)}:{{{items}}}"


def _timed(c: LineClient, line: str) -> tuple[str, float]:
    started = time.monotonic()
    reply = c.cmd(line)
    return reply, time.monotonic() - started


def _until_ok(c: LineClient, line: str, within: float = 15) -> str:
    replies: list[str] = []

    def answered() -> bool:
        replies.append(c.cmd(line))
        return not replies[-1].startswith("err Storage unavailable")

    wait_until(answered, timeout=within, what=f"{line!r} to work again")
    return replies[-1]


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_an_outage_gets_clear_errors_and_the_daemon_recovers_by_itself(
    behind_proxy: tuple[Daemon, Proxy], mode: Literal["refuse", "blackhole"]
) -> None:
    daemon, proxy = behind_proxy
    with daemon.client(timeout=30) as c:
        sid = c.new_session(kept="yes")  # acknowledged before the outage
        assert c.cmd(f"write {sid} " + _php(late="x")) == "ok"
        proxy.down(mode)
        for line in (f"open {sid} r", "new", f"read {sid}", f"write {sid} " + _php(lost="x")):
            reply, took = _timed(c, line)
            assert reply == "err Storage unavailable.", (line, reply)
            assert took < TIMEOUT + 1.5, (line, took)  # bounded by the storage timeout
        assert c.cmd("ping") == "ok pong"  # the connection and the daemon go on
        assert daemon.proc.poll() is None
        proxy.up()
        assert _until_ok(c, f"open {sid} r") == "ok"
        assert c.cmd("keys") == "ok kept|late"  # nothing acknowledged was lost
        assert c.cmd("close") == "ok"
        assert c.cmd(f"write {sid} " + _php(after="y")) == "ok"
        assert c.cmd(f"read {sid}").startswith("ok a:3:"), daemon.log
    assert "expiry pass" not in daemon.log or daemon.log.count("expiry pass failed") <= 1


def test_a_writer_holding_a_lock_through_an_outage_is_told_at_close(
    behind_proxy: tuple[Daemon, Proxy],
) -> None:
    daemon, proxy = behind_proxy
    with daemon.client(timeout=30) as c:
        sid = c.new_session(n="1")
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd("put n 2") == "ok"
        proxy.down("refuse")
        reply, took = _timed(c, "close")
        assert reply == "err Could not close session", reply
        assert took < TIMEOUT + 1.5
        proxy.up()
        assert _until_ok(c, f"open {sid} r") == "ok"
        assert c.cmd("get n") == "ok 1"  # the unacknowledged change did not land
