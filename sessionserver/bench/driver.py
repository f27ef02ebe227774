"""A built-in driver for when the C load generator is not at hand.

One process, uvloop when installed, one ``asyncio.Protocol`` per connection, each phase sent in
one write.  It measures the same cycle as the load generator, but a Python client costs about
as much CPU as the server it drives, so on a small machine the figures are client-bound and
the ratio to Redis understates the daemon.  ``sessionserver bench`` says so when it uses it.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import ssl
import time
from typing import Any

from .results import Result
from .workload import parse_script

__all__ = ["run_driver"]


def _encode(line: str, framing: str) -> bytes:
    if framing == "text":
        return line.encode() + b"\r\n"
    args = [a.encode() for a in line.split(" ")]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class _Replies:
    """Counts complete replies in a byte stream."""

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.reader: Any = None
        if framing == "resp":
            import hiredis  # the C RESP parser redis-py uses

            self.reader = hiredis.Reader()

    def feed(self, data: bytes) -> int:
        if self.reader is None:
            return data.count(b"\n")
        self.reader.feed(data)
        n = 0
        while self.reader.gets() is not False:
            n += 1
        return n


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run, phases: list[bytes], counts: list[int]) -> None:
        self.run = run
        self.phases = phases
        self.counts = counts
        self.replies = _Replies(run.framing)
        self.phase = 0
        self.got = 0
        self.started = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._start_cycle()

    def _start_cycle(self) -> None:
        self.started = time.perf_counter()
        self.phase = 0
        self.got = 0
        assert self.transport is not None
        self.transport.write(self.phases[0])

    def data_received(self, data: bytes) -> None:
        self.got += self.replies.feed(data)
        if self.got < self.counts[self.phase]:
            return
        self.got = 0
        self.phase += 1
        assert self.transport is not None
        if self.phase < len(self.phases):
            self.transport.write(self.phases[self.phase])
            return
        now = time.perf_counter()
        self.run.finished(now, now - self.started)
        if now < self.run.stop_at:
            self._start_cycle()
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.closed()


class _Run:
    def __init__(self, framing: str, warm_at: float, stop_at: float, conns: int) -> None:
        self.framing = framing
        self.warm_at = warm_at
        self.stop_at = stop_at
        self.samples: list[float] = []
        self.open = conns
        self.done = asyncio.get_running_loop().create_future()

    def finished(self, now: float, latency: float) -> None:
        if self.warm_at <= now <= self.stop_at:
            self.samples.append(latency)

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


async def _setup_session(port: int, tls: ssl.SSLContext | None) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
    writer.write(b"new\r\nclose\r\n")
    first = await reader.readline()
    await reader.readline()
    writer.close()
    await writer.wait_closed()
    if not first.startswith(b"ok "):
        raise RuntimeError(f"new failed: {first!r}")
    return first[3:].strip().decode()


async def _drive(
    target: str,
    port: int,
    framing: str,
    script: str,
    conns: int,
    duration: float,
    warmup: float,
    setup: bool,
    tls: ssl.SSLContext | None,
) -> Result:
    phases = parse_script(script)
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    run = _Run(framing, start + warmup, start + warmup + duration, conns)
    counts = [len(p.lines) for p in phases]
    for _ in range(conns):
        sid = await _setup_session(port, tls) if setup else secrets.token_hex(16)
        wire = [
            b"".join(_encode(line.format(sid=sid), framing) for line in p.lines) for p in phases
        ]
        await loop.create_connection(
            functools.partial(_Connection, run, wire, counts), "127.0.0.1", port, ssl=tls
        )
    await run.done
    samples = sorted(run.samples)
    measured = min(duration, time.perf_counter() - run.warm_at)
    if not samples:
        raise RuntimeError("no cycle completed")
    return Result(
        target=target,
        cycles_per_s=len(samples) / measured,
        p50_us=samples[len(samples) // 2] * 1e6,
        p99_us=samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e6,
        errors=0,
        driver="python",
    )


def run_driver(
    *,
    target: str,
    port: int,
    framing: str,
    script: str,
    setup: str | None,
    conns: int,
    duration: float,
    warmup: float,
    tls: ssl.SSLContext | None = None,
) -> Result:
    """Run the cycle; ``setup`` (not None) means sessions are made with ``new`` first;
    ``tls`` speaks TLS with that context (the C load generator cannot)."""
    coro = _drive(target, port, framing, script, conns, duration, warmup, setup is not None, tls)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: Result = uvloop.run(coro)
    return result
