"""The admin HTTP listener's lifecycle, and the sampler that keeps its slower figures fresh.

The listener is aiohttp's web server, run by the daemon's own event loop (an ``AppRunner`` and
a ``TCPSite``, which is how aiohttp is embedded in a program that owns its loop and signals).
aiohttp rather than Starlette under uvicorn: uvicorn's ``Server.serve`` installs its own signal
handlers, which would take SIGTERM from the daemon's drain, and aiohttp's parser (llhttp, in C)
needs no second framework on top.

The sampler runs once a second: it probes the storage (``sessionserver_storage_up``,
``/readyz``), counts the live sessions (at most every second, and no more often than keeps
counting under 2% of the time: a count that walks a large shared store's keys paces itself; on
a shared store only while someone reads the figures), and keeps the totals of the last seconds
for the rates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ...storage import SharedStorage, StorageError
from ..eager import resolve
from .figures import plain

if TYPE_CHECKING:
    from ..server import Server

__all__ = ["AdminListener", "Sampler"]

logger = logging.getLogger("sessionserver")

#: Seconds between two samples; ``/readyz`` follows the storage within about twice this.
INTERVAL = 1.0
#: Longest a storage probe may take before the storage counts as down.
PROBE_TIMEOUT = 2.0
#: A valid session id that is never issued: looking it up is a real round trip to the store.
PROBE_ID = b"0" * 32
#: Seconds of totals kept for the rates.
RATE_WINDOW = 5
#: A shared store's sessions are counted while the figures were read this recently.
WATCHED = 60.0
#: The share of the time the sampler may spend counting sessions...
COUNT_SHARE = 0.02
#: ...but a count is never older than this (one slow count does not stop the gauge).
COUNT_GAP_MAX = 60.0


class Sampler:
    """The admin listener's view of what is slow to ask: the storage's health, the count."""

    def __init__(self, server: Server, clock: Callable[[], float] = time.monotonic) -> None:
        self.server = server
        self.clock = clock
        self.up = True
        self.probe_seconds = 0.0
        self.sessions = 0
        self._shared = isinstance(server.strategy.store, SharedStorage)
        self._next_count = 0.0
        self._read = clock()
        self._totals: deque[tuple[float, dict[str, float]]] = deque(maxlen=RATE_WINDOW + 1)

    async def sample(self) -> None:
        now = self.clock()
        await self.probe()
        watched = not self._shared or now - self._read < WATCHED
        if self.up and watched and now >= self._next_count:
            started = self.clock()
            await self.count()
            took = self.clock() - started
            self._next_count = started + min(max(INTERVAL, took / COUNT_SHARE), COUNT_GAP_MAX)

    def read(self) -> None:
        """Someone read the figures (a scrape, the dashboard, ``top``)."""
        self._read = self.clock()

    async def probe(self) -> None:
        strategy = self.server.strategy
        started = time.perf_counter()
        try:
            if not strategy.store.available:
                raise StorageError("the storage reports it cannot write")
            async with asyncio.timeout(PROBE_TIMEOUT):
                await resolve(strategy.get_ttl(PROBE_ID, time.time()))
        except (StorageError, OSError, TimeoutError) as exc:
            if self.up:
                logger.warning(
                    "storage probe failed, not ready: %s",
                    exc or f"no answer within {PROBE_TIMEOUT:g} s",
                    extra={"storage": strategy.store.scheme},
                )
            self.up = False
        else:
            if not self.up:
                logger.warning(
                    "storage answers again, ready", extra={"storage": strategy.store.scheme}
                )
            self.up = True
        self.probe_seconds = time.perf_counter() - started

    async def count(self) -> None:
        strategy = self.server.strategy
        try:
            async with asyncio.timeout(PROBE_TIMEOUT * 5):
                self.sessions = await resolve(strategy.count(time.time()))
        except (StorageError, OSError, TimeoutError):
            pass  # the probe says whether the storage is down; the last count stands

    def note(self, figures: dict[str, float]) -> None:
        """Remember the totals, for :meth:`rates`."""
        self._totals.append((self.clock(), figures))

    def rates(self) -> dict[str, float]:
        """Per second over the last few seconds, of every ``*_total`` figure."""
        if len(self._totals) < 2:
            return {}
        (t0, first), (t1, last) = self._totals[0], self._totals[-1]
        span = t1 - t0
        return {
            name: (last[name] - first[name]) / span
            for name in last
            if name.endswith("_total") and name in first and span > 0
        }


class AdminListener:
    """``/metrics``, ``/healthz``, ``/readyz`` and the dashboard, on the daemon's loop."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sampler = Sampler(server)
        self.draining = False
        self.address: tuple[str, int] | None = None
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Whether a load balancer should send traffic: storage up and not draining."""
        return self.sampler.up and not self.draining

    async def start(self) -> None:
        """Bind and serve.

        Raises:
            OSError: the address cannot be bound.
        """
        from .app import build_app

        config = self.server.config
        runner = web.AppRunner(build_app(self), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.admin_host, config.admin_port or 0, backlog=128)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.address = (host, port)
        await self.sampler.sample()  # the first figures are there before the first request
        self.sampler.note(plain(self))
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            try:
                await self.sampler.sample()
                self.sampler.note(plain(self))
            except Exception:
                logger.exception("sampling the admin figures failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
