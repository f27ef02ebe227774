"""``GET /metrics``: Prometheus text that ``prometheus_client``'s own parser reads, whose figures
move with the traffic the test sends."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ...conftest import StartDaemon
from ...helpers import Daemon, wait_until

DURATION = "sessionserver_command_duration_seconds"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, **headers: str) -> Samples:
    response = httpx.get(url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> Daemon:
    return start_daemon("--storage", "memory://", "--admin-port", "0", "--lock-timeout", "0.5")


def test_the_figures_move_with_traffic(daemon: Daemon) -> None:
    url = daemon.admin_url()
    before = scrape(url)
    assert value(before, "sessionserver_storage_up") == 1
    assert value(before, "sessionserver_info", version="0.1.0", storage="memory") == 1
    with daemon.client() as c:
        sids = [c.new_session(n=str(i)) for i in range(3)]  # new, put, close each
        assert c.cmd(f"open {sids[0]} r") == "ok"
        assert c.cmd("get n") == "ok 0"
        assert c.cmd("get missing") == "err Key does not exist"
        assert c.cmd("close") == "ok"
        assert c.cmd("nonsense") == "err unknown command"
        during = scrape(url)
        assert value(during, "sessionserver_connections") == 1
        wait_until(lambda: value(scrape(url), "sessionserver_sessions") == 3, what="3 sessions")
    after = scrape(url)
    for command, n in {"new": 3, "put": 3, "close": 4, "open": 1, "get": 2}.items():
        assert value(after, "sessionserver_commands_total", command=command) == n, command
    assert (
        value(after, "sessionserver_requests_total") - value(before, "sessionserver_requests_total")
        == 3 * 3 + 4 + 1
    )
    assert value(after, "sessionserver_errors_total", reply="no_such_key") == 1
    assert value(after, "sessionserver_errors_total", reply="unknown_command") == 1
    assert value(after, "sessionserver_sessions_created_total") == 3
    wait_until(lambda: value(scrape(url), "sessionserver_connections") == 0, what="a close")
    # Each create reached the store, timed.
    assert (
        value(after, "sessionserver_storage_call_duration_seconds_count", operation="create") == 3
    )
    # The latency histograms are well formed: cumulative, ending in +Inf at the count.
    for command in ("new", "put", "close"):
        total = value(after, "sessionserver_command_duration_seconds_count", command=command)
        inf = value(
            after, "sessionserver_command_duration_seconds_bucket", command=command, le="+Inf"
        )
        assert inf == total
    assert value(after, "process_resident_memory_bytes") > 0


def test_lock_waits_timeouts_and_their_latency(daemon: Daemon) -> None:
    url = daemon.admin_url()
    with daemon.client() as holder, daemon.client() as waiter:
        sid = holder.new_session()
        assert holder.cmd(f"open {sid} w") == "ok"
        # A wait that times out (--lock-timeout 0.5): counted, and answered with an error.
        assert waiter.cmd(f"open {sid} w") == "err Session is locked."
        # A wait that is granted when the holder closes.
        waiter.send(f"open {sid} w\r\n")
        daemon.wait_for_lock_waiters(1)
        assert holder.cmd("close") == "ok"
        assert waiter.read_line() == "ok"
        assert waiter.cmd("close") == "ok"
    samples = scrape(url)
    assert value(samples, "sessionserver_lock_waits_total") == 2
    assert value(samples, "sessionserver_lock_timeouts_total") == 1
    assert value(samples, "sessionserver_errors_total", reply="locked") == 1
    # Commands that wait are always timed: both waiting opens, the timed-out one at 0.5 s.
    waited = value(samples, "sessionserver_command_duration_seconds_count", command="open")
    assert waited >= 2
    quick = value(
        samples, "sessionserver_command_duration_seconds_bucket", command="open", le="0.25"
    )
    assert waited - quick >= 1  # at least the 0.5 s timeout lies above 0.25 s
    assert value(samples, "sessionserver_command_duration_seconds_sum", command="open") >= 0.5


def test_every_sample_is_named_by_prometheus_conventions(daemon: Daemon) -> None:
    url = daemon.admin_url()
    with daemon.client() as c:
        c.new_session(k="v")
    text = httpx.get(url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        assert family.name.startswith(("sessionserver_", "process_")), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        assert family.documentation, family.name
