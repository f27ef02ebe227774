"""``/healthz`` and ``/readyz`` for load balancers: readiness follows a store the test cuts and
restores (the real Redis or PostgreSQL behind a proxy), and a draining daemon is not ready."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest

from ...conftest import StartDaemon
from ...helpers import Daemon, wait_until
from ...proxy import Proxy
from ...stores import daemon_behind_proxy, drop_redis_prefix, unique_name
from .test_metrics import scrape, value


def status(url: str, path: str) -> int:
    return httpx.get(url + path, timeout=10).status_code


@pytest.fixture(params=["redis", "postgres"])
def behind_proxy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Daemon, Proxy]]:
    with daemon_behind_proxy(tmp_path, request.param, "--admin-port", "0") as found:
        yield found


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_readiness_follows_the_store(
    behind_proxy: tuple[Daemon, Proxy], mode: Literal["refuse", "blackhole"]
) -> None:
    daemon, proxy = behind_proxy
    url = daemon.admin_url()
    assert status(url, "/healthz") == 200
    assert status(url, "/readyz") == 200
    assert value(scrape(url), "sessionserver_storage_up") == 1

    proxy.down(mode)
    cut = time.monotonic()
    wait_until(lambda: status(url, "/readyz") == 503, timeout=10, what="/readyz to fail")
    assert time.monotonic() - cut < 5  # within seconds: a probe a second, 2 s at most each
    response = httpx.get(url + "/readyz", timeout=10)
    assert response.text == "not ready: the storage does not answer\n"
    assert status(url, "/healthz") == 200  # alive all the same: do not restart it
    assert value(scrape(url), "sessionserver_storage_up") == 0
    assert "storage probe failed, not ready" in daemon.log

    proxy.up()
    wait_until(lambda: status(url, "/readyz") == 200, timeout=15, what="/readyz to recover")
    assert value(scrape(url), "sessionserver_storage_up") == 1
    with daemon.client() as c:  # and the sessions work again
        assert c.cmd("new").startswith("ok ")
    assert "storage answers again, ready" in daemon.log


def test_a_draining_daemon_is_not_ready(start_daemon: StartDaemon) -> None:
    # Two daemons on one Redis: a writer waiting on B for a lock held through A keeps B's
    # drain going (an idle connection would be closed at once), while B says it is not ready.
    prefix = unique_name("drain")
    storage = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    try:
        a = start_daemon("--storage", storage, "--lock-timeout", "30")
        b = start_daemon("--storage", storage, "--admin-port", "0", "--lock-timeout", "30")
        url = b.admin_url()
        with a.client() as holder, b.client(timeout=30) as waiter:
            sid = holder.new_session()
            assert holder.cmd(f"open {sid} w") == "ok"
            waiter.send(f"open {sid} w\r\n")
            # Read by B (its only request), and waiting for the store's lock.
            wait_until(lambda: value(scrape(url), "sessionserver_requests_total") == 1)
            b.signal(signal.SIGTERM)
            wait_until(lambda: status(url, "/readyz") == 503, what="/readyz to fail")
            assert httpx.get(url + "/readyz", timeout=10).text == "not ready: draining\n"
            assert status(url, "/healthz") == 200  # alive: finishing what is in flight
            assert holder.cmd("close") == "ok"
            assert waiter.read_line() == "ok"
        assert b.wait() == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/healthz", timeout=2)
    finally:
        drop_redis_prefix(prefix)
