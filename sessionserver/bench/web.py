"""The HTTP benchmark: requests/s of a Flask app (gunicorn) and a Starlette app (uvicorn) whose
view reads and writes the session, through this project's adapters and through Flask-Session
and starsessions on Redis, side by side.

The driver is a keep-alive HTTP/1.1 client on raw sockets (one process, uvloop): each of
``conns`` connections has its own session cookie and sends its next request when the reply
has arrived.  Each server runs one worker process.  Beside requests/s, the CPU each request
cost the app's worker and the session store (the daemon, or Redis), from ``/proc/<pid>/stat``
over the measured window.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass

from ..process import free_port, wait_for_port
from .cpu import children, cpu_seconds, redis_pid

__all__ = ["HttpResult", "run_http_bench"]


@dataclass(frozen=True)
class HttpResult:
    app: str
    store: str
    requests_per_s: float
    errors: int
    #: CPU microseconds per request: the app server's worker, and the session store.
    app_cpu_us: float
    store_cpu_us: float


class _Conn(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buf = b""
        self.cookie = b""
        self.replies = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        cookie = b"Cookie: " + self.cookie + b"\r\n" if self.cookie else b""
        assert self.transport is not None
        self.transport.write(b"GET / HTTP/1.1\r\nHost: bench\r\n" + cookie + b"\r\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        length = 0
        status = head.split(b" ", 2)[1]
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"set-cookie":
                self.cookie = value.strip().split(b";", 1)[0]
        if len(rest) < length:
            return
        body, self.buf = rest[:length], rest[length:]
        # The view counts this connection's requests in its session: a reply that is off
        # means the session was lost or mixed up, and counts as an error.
        self.replies += 1
        self.run.done(status != b"200" or body != str(self.replies).encode())
        if time.perf_counter() < self.run.stop_at:
            self._send()
        elif self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        # A server that closes after a reply (no keep-alive) gets a new connection, the
        # session cookie carried over, as a browser would open one.
        if time.perf_counter() < self.run.stop_at:
            self.run.reconnect(self)
        else:
            self.run.closed()


class _Run:
    def __init__(
        self, port: int, conns: int, warm_at: float, stop_at: float, pids: list[int]
    ) -> None:
        self.port = port
        self.reconnects = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.warm_at = warm_at
        self.stop_at = stop_at
        self.count = 0
        self.errors = 0
        self.open = conns
        self.finished = asyncio.get_running_loop().create_future()
        self.pids = pids
        self.cpu: list[list[float]] = []  # per pid: at warm_at, at stop_at
        self.counted_at_stop = 0

    def mark(self) -> None:
        self.cpu.append([cpu_seconds(pid) for pid in self.pids])
        if len(self.cpu) == 2:
            self.counted_at_stop = self.count

    def done(self, error: bool) -> None:
        if time.perf_counter() >= self.warm_at:
            self.count += 1
            self.errors += error

    def reconnect(self, conn: _Conn) -> None:
        self.reconnects += 1
        conn.buf = b""

        async def again() -> None:
            loop = asyncio.get_running_loop()
            try:
                await loop.create_connection(lambda: conn, "127.0.0.1", self.port)
            except OSError:
                self.errors += 1
                self.closed()

        task = asyncio.get_running_loop().create_task(again())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


async def _drive(
    port: int, conns: int, duration: float, warmup: float, pids: list[int]
) -> tuple[float, int, list[float]]:
    """(requests/s, errors, CPU microseconds per request of each of ``pids``)."""
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    run = _Run(port, conns, start + warmup, start + warmup + duration, pids)
    loop.call_later(warmup, run.mark)
    stop = loop.call_later(warmup + duration, run.mark)
    for _ in range(conns):
        await loop.create_connection(lambda: _Conn(run), "127.0.0.1", port)
    await run.finished
    if len(run.cpu) < 2:  # every connection closed before the timer (stop_at is a hair earlier)
        stop.cancel()
        run.mark()
    served = max(run.counted_at_stop, 1)
    cpu = [(after - before) * 1e6 / served for before, after in zip(*run.cpu, strict=True)]
    return run.count / duration, run.errors, cpu


def _serve(app: str, port: int, env: dict[str, str], threads: int) -> subprocess.Popen[bytes]:
    bindir = os.path.dirname(sys.executable)
    if app == "flask":
        argv = [
            os.path.join(bindir, "gunicorn"),
            "-w",
            "1",
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "sessionserver.bench.apps:flask_app()",
        ]
    else:
        argv = [
            os.path.join(bindir, "uvicorn"),
            "--factory",
            "sessionserver.bench.apps:starlette_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cleanup(redis_port: int, prefix: str) -> None:
    import redis

    r = redis.Redis(port=redis_port)
    try:
        keys = list(r.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            r.delete(*keys)
    finally:
        r.close()


def _worker(app: str, proc: subprocess.Popen[bytes]) -> int:
    """The process that serves requests: gunicorn's one worker, or uvicorn itself."""
    if app != "flask":
        return proc.pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = children(proc.pid)
        if workers:
            return workers[0]
        time.sleep(0.05)
    raise RuntimeError("gunicorn started no worker")


_APPS = {"flask": "Flask + gunicorn", "starlette": "Starlette + uvicorn"}
#: Per app, what stores its sessions and how that is labelled: Redis (the baseline) first.
STORES = {
    "flask": {"redis": "Flask-Session (Redis)", "sessionserver": "sessionserver"},
    "starlette": {
        "redis": "starsessions (Redis)",
        "sessionserver": "sessionserver",
        "sessionserver-autoload": "sessionserver (autoload)",
    },
}


def run_http_bench(
    session_url: str,
    redis_port: int,
    conns: int,
    duration: float,
    warmup: float,
    *,
    daemon_pid: int,
    prefix: str = "ssbench",
    slices: int = 5,
) -> list[HttpResult]:
    """Both apps, each through each of its :data:`STORES` (Redis first); results in that
    order.

    The servers of an app run side by side and are driven in turn, ``slices`` times
    ``duration / slices`` seconds each, so that whatever else the machine does weighs on
    both alike; the figures add up the slices.
    """
    from ..cli import main as _  # noqa: F401  (the package must be importable by the servers)

    store_pid = redis_pid(redis_port)
    results: list[HttpResult] = []
    for app in ("flask", "starlette"):
        unique = f"{prefix}_http_{secrets.token_hex(4)}"
        servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
        try:
            for store in STORES[app]:
                env = {
                    **os.environ,
                    "BENCH_STORE": store,
                    "SESSIONSERVER_URL": session_url,
                    "BENCH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                    "BENCH_PREFIX": unique,
                    "PYTHONPATH": os.pathsep.join(sys.path),
                }
                port = free_port()
                servers[store] = (port, _serve(app, port, env, conns))
            totals = {store: [0.0, 0.0, 0.0, 0.0] for store in STORES[app]}
            for port, proc in servers.values():
                wait_for_port(port, proc, "the app server")
            pids = {
                store: [_worker(app, proc), store_pid if store == "redis" else daemon_pid]
                for store, (port, proc) in servers.items()
            }
            for i in range(slices):
                for store, (port, _proc) in servers.items():
                    slice_warmup = warmup if i == 0 else min(warmup, 0.5)
                    rate, errors, (app_cpu, store_cpu) = asyncio.run(
                        _drive(port, conns, duration / slices, slice_warmup, pids[store])
                    )
                    total = totals[store]
                    requests = rate * duration / slices
                    total[0] += requests
                    total[1] += errors
                    total[2] += app_cpu * requests
                    total[3] += store_cpu * requests
        finally:
            for _port, proc in servers.values():
                proc.terminate()
                proc.wait(10)
            _cleanup(redis_port, unique)
        for store, label in STORES[app].items():
            served, failed, app_us, store_us = totals[store]
            results.append(
                HttpResult(
                    _APPS[app],
                    label,
                    served / duration,
                    int(failed),
                    app_us / max(served, 1.0),
                    store_us / max(served, 1.0),
                )
            )
    return results
