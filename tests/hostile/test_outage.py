"""A store outage under load: every request gets a storage error (never an internal one),
and the log says so in a few lines, not one per failed request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import Daemon, wait_until
from ..proxy import Proxy
from ..stores import drop_postgres_schema, drop_redis_prefix, unique_name

#: What a command answers when the store fails it: the original protocol's failure reply of
#: that command, or the extension's.
STORE_ERRORS = {
    "err Storage unavailable.",
    "err Could not store value",
    "err Could not close session",
    "err Could not commit session.",
    "err Could not destroy session.",
}


@pytest.fixture
def redis_behind_proxy(tmp_path: Path) -> Iterator[tuple[Daemon, Proxy]]:
    unique = unique_name("hostile")
    with Proxy(("127.0.0.1", 6379)) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0?prefix={unique}&timeout=0.5"
        daemon = Daemon.start(tmp_path, "--storage", url, "--loop", "uvloop")
        try:
            yield daemon, proxy
        finally:
            proxy.up()
            daemon.stop()
            drop_redis_prefix(unique)


def test_an_outage_under_load_is_storage_errors_and_a_few_log_lines(
    redis_behind_proxy: tuple[Daemon, Proxy],
) -> None:
    """Before: under uvloop a closed transport's RuntimeError became 'err Internal server
    error.', and a 12 s outage wrote 1,091 ERROR lines."""
    daemon, proxy = redis_behind_proxy
    with daemon.client() as c:
        sids = [c.new_session(n="0") for _ in range(8)]
    stop = threading.Event()
    replies: list[str] = []

    def hammer(sid: str) -> None:
        with daemon.client(timeout=30) as c:
            while not stop.is_set():
                for line in (f"read {sid}", f'write {sid} a:1:{{s:1:"n";s:1:"1";}}', "new"):
                    replies.append(c.cmd(line))
                if replies[-1].startswith("ok "):
                    assert c.cmd("close") == "ok"

    threads = [threading.Thread(target=hammer, args=(sid,)) for sid in sids]
    for t in threads:
        t.start()
    try:
        # Load before the cut, so that pooled connections to the store are in use.
        wait_until(lambda: len(replies) >= 200, what="200 replies before the outage")
        before = len(replies)
        proxy.down("refuse")

        def failures() -> int:
            return sum(not r.startswith("ok") for r in replies[before:])

        # Long enough an outage for every hammering connection to hit it many times over.
        wait_until(lambda: failures() >= 200, timeout=30, what="200 failed replies")
        during = replies[before:]
        proxy.up()
        healed = len(replies)
        wait_until(
            lambda: sum(r.startswith("ok") for r in replies[healed:]) >= 100,
            timeout=30,
            what="100 ok replies after the outage",
        )
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    failed = [r for r in during if not r.startswith("ok")]
    assert failed, "the outage failed nothing"
    assert set(failed) <= STORE_ERRORS, set(failed) - STORE_ERRORS
    assert replies[-1].startswith("ok"), replies[-5:]  # it recovered by itself
    log = daemon.log
    assert "Traceback" not in log
    noisy = [line for line in log.splitlines() if " ERROR " in line or " WARNING " in line]
    assert len(noisy) <= 12, "\n".join(noisy[:40])


def test_a_store_connection_reset_while_idle_is_a_storage_error_at_worst(
    redis_behind_proxy: tuple[Daemon, Proxy],
) -> None:
    """Pooled store connections reset while idle: under uvloop, writing to such a transport
    raises RuntimeError, which was answered 'err Internal server error.' (a race: before the
    fix, about one run in two of these 150 resets hit it)."""
    daemon, proxy = redis_behind_proxy
    replies: set[str] = set()
    with daemon.client() as c:
        sid = c.new_session(n="0")
        for _ in range(150):
            assert c.cmd(f"read {sid}").startswith("ok ")
            proxy.reset()
            replies.add(c.cmd(f"read {sid}"))
    assert replies <= {'ok a:1:{s:1:"n";s:1:"0";}', *STORE_ERRORS}, replies
    assert "Traceback" not in daemon.log


def test_no_request_waits_past_its_timeout_after_a_healed_postgres_partition(
    tmp_path: Path,
) -> None:
    """Before: after a 6 s partition healed, one request per run waited 21-24 s with
    timeout=2.  Every request in flight then or after must end within its timeout (and a
    margin for a loaded machine)."""
    unique = unique_name("partition")
    with Proxy(("127.0.0.1", 5432)) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test?schema={unique}&timeout=2"
        daemon = Daemon.start(tmp_path, "--storage", url)
        try:
            with daemon.client() as c:
                sids = [c.new_session(n="0") for _ in range(4)]
            stop = threading.Event()
            timings: list[tuple[float, float, str]] = []

            def hammer(sid: str) -> None:
                with daemon.client(timeout=60) as c:
                    while not stop.is_set():
                        started = time.monotonic()
                        reply = c.cmd(f"read {sid}")
                        timings.append((started, time.monotonic() - started, reply))

            threads = [threading.Thread(target=hammer, args=(sid,)) for sid in sids]
            for t in threads:
                t.start()
            wait_until(lambda: len(timings) >= 100, what="100 reads before the partition")
            proxy.down("blackhole")
            cut = time.monotonic()

            def timed_out_after(moment: float, count: int) -> bool:
                return sum(s >= moment and r in STORE_ERRORS for s, _, r in timings) >= count

            # A partition of several request timeouts: every connection timed out twice.
            wait_until(lambda: timed_out_after(cut, 2 * len(sids)), timeout=60, what="timeouts")
            proxy.up()
            healed = time.monotonic()
            wait_until(
                lambda: (
                    sum(s >= healed and r.startswith("ok ") for s, _, r in timings)
                    >= 20 * len(sids)
                ),
                timeout=60,
                what="reads answered after the partition healed",
            )
            stop.set()
            for t in threads:
                t.join(60)
        finally:
            proxy.up()
            daemon.stop()
            drop_postgres_schema(unique)
    after = [(took, reply) for started, took, reply in timings if started + took >= healed]
    assert after and after[-1][1].startswith("ok "), after[-3:]
    slowest = max(took for took, _ in after)
    assert slowest < 2 + 1.5, f"a request waited {slowest:.1f} s after the partition healed"
    assert {reply for _, reply in after} <= {'ok a:1:{s:1:"n";s:1:"0";}', *STORE_ERRORS}
