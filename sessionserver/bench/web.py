"""The HTTP benchmark: requests/s of a Flask app (gunicorn) and a Starlette app (uvicorn) whose
view reads and writes the session, through this project's adapters and through Flask-Session
and starsessions on Redis, side by side.

The driver is a keep-alive HTTP/1.1 client on raw sockets (one process, uvloop): each of
``conns`` connections has its own session cookie and sends its next request when the reply
has arrived.  Each server runs one worker process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

__all__ = ["HttpResult", "run_http_bench"]


@dataclass(frozen=True)
class HttpResult:
    app: str
    store: str
    requests_per_s: float
    errors: int


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
    def __init__(self, port: int, conns: int, warm_at: float, stop_at: float) -> None:
        self.port = port
        self.reconnects = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.warm_at = warm_at
        self.stop_at = stop_at
        self.count = 0
        self.errors = 0
        self.open = conns
        self.finished = asyncio.get_running_loop().create_future()

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


async def _drive(port: int, conns: int, duration: float, warmup: float) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    run = _Run(port, conns, start + warmup, start + warmup + duration)
    for _ in range(conns):
        await loop.create_connection(lambda: _Conn(run), "127.0.0.1", port)
    await run.finished
    return run.count / duration, run.errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the app server did not come up")


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


def run_http_bench(
    session_url: str, redis_port: int, conns: int, duration: float, warmup: float
) -> list[HttpResult]:
    """Both apps, each through both stores (Redis first); results in that order."""
    from ..cli import main as _  # noqa: F401  (the package must be importable by the servers)

    results: list[HttpResult] = []
    for app in ("flask", "starlette"):
        for store in ("redis", "sessionserver"):
            prefix = f"ssbench-http-{secrets.token_hex(4)}"
            env = {
                **os.environ,
                "BENCH_STORE": store,
                "SESSIONSERVER_URL": session_url,
                "BENCH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "BENCH_PREFIX": prefix,
                "PYTHONPATH": os.pathsep.join(sys.path),
            }
            port = _free_port()
            proc = _serve(app, port, env, conns)
            try:
                _wait(port, proc)
                rate, errors = asyncio.run(_drive(port, conns, duration, warmup))
            finally:
                proc.terminate()
                proc.wait(10)
                _cleanup(redis_port, prefix)
            label = {
                "flask": ("Flask + gunicorn", "Flask-Session (Redis)"),
                "starlette": ("Starlette + uvicorn", "starsessions (Redis)"),
            }[app]
            results.append(
                HttpResult(
                    label[0], label[1] if store == "redis" else "sessionserver", rate, errors
                )
            )
    return results
