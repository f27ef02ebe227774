"""What the admin listener reports beyond the plain counters: per-command counts and latency,
the slowest recent commands, and how long store calls take.

The figures are recorded by wrapping, once at start, the handlers of the command tables
(:func:`instrument`) and the coroutine methods of the store (:func:`instrument_storage`), so
the connection's per-line loop is the same code with or without them, and a daemon started
without ``--admin-port`` (or debug logging) pays nothing at all.

With them, every command is counted exactly, but timing one costs two clock reads and a
bucket search, more than many commands cost themselves (a ``get`` takes about a microsecond).
So a command that completes at once is timed one time in :data:`SAMPLE` (per command name, in
turn) and that observation counts :data:`SAMPLE` times, and every command that waits (for a
lock, for the storage) is timed and counts once: the histograms estimate every command's
latency without bias, and a wait is never missed.  At debug level, where each command is
logged, each is timed too.  The histograms are plain lists of per-bucket counts, turned into
Prometheus' cumulative buckets only when scraped (see ``http/figures.py``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from ..logs import sid_prefix
from ..protocol.replies import Err
from ..protocol.resp import PROTOCOL_ERROR
from ..protocol.text import CODEC_ERROR
from ..storage import Storage
from .sessions.state import ConnectionState, Spec, Tables

__all__ = [
    "BOUNDS",
    "SAMPLE",
    "CommandMetrics",
    "CommandStats",
    "Histogram",
    "SlowLog",
    "instrument",
    "instrument_storage",
]

access_log = logging.getLogger("sessionserver.access")

#: Upper bounds of the latency buckets, in seconds (Prometheus' ``le``); one more for +Inf.
BOUNDS: tuple[float, ...] = (
    0.000001,
    0.0000025,
    0.000005,
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

#: One in this many commands that complete at once is timed (see the module docstring).
SAMPLE = 16

_Future = asyncio.Future
clock = time.perf_counter


class Histogram:
    """Observations of one command (or store operation): per-bucket counts and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        #: counts[i]: observations in (BOUNDS[i-1], BOUNDS[i]]; the last one is +Inf.
        self.counts = [0] * (len(BOUNDS) + 1)
        self.total = 0.0

    def observe(self, seconds: float, weight: int = 1) -> None:
        """One observation, standing for ``weight`` of them (a sampled one)."""
        self.counts[bisect_left(BOUNDS, seconds)] += weight
        self.total += seconds * weight

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> Iterator[tuple[float, int]]:
        """(upper bound, observations at or below it), +Inf last."""
        running = 0
        for bound, n in zip((*BOUNDS, float("inf")), self.counts, strict=True):
            running += n
            yield bound, running

    def quantile(self, q: float) -> float | None:
        """An estimate of the ``q`` quantile, interpolated within its bucket as Prometheus'
        ``histogram_quantile`` does; None before any observation."""
        count = self.count
        if not count:
            return None
        rank = q * count
        below, lower = 0, 0.0
        for bound, running in self.cumulative():
            if running >= rank:
                if bound == float("inf"):
                    return lower  # above the last bound: its lower edge, as Prometheus does
                inside = running - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            below, lower = running, bound
        return lower


class SlowLog:
    """The slowest commands of the last one to two minutes, for the dashboard.

    Two windows of ``window`` seconds, each keeping its ``size`` slowest commands in a heap;
    ``floor`` is what a command must exceed to enter the current one, so a fast command costs
    one comparison.
    """

    def __init__(
        self, *, size: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.window = window
        self.clock = clock
        self.floor = 0.0
        self._current: list[tuple[float, int, dict[str, Any]]] = []
        self._previous: list[tuple[float, int, dict[str, Any]]] = []
        self._started = clock()
        self._n = 0

    def _rotate(self, now: float) -> None:
        if now - self._started >= self.window:
            gone = now - self._started >= 2 * self.window
            self._previous = [] if gone else self._current
            self._current = []
            self._started = now
            self.floor = 0.0

    def add(self, seconds: float, command: str, sid: bytes | None, peer: str) -> None:
        self._rotate(self.clock())
        entry = {
            "command": command,
            "seconds": seconds,
            "at": time.time(),
            "session": sid_prefix(sid),
            "peer": peer or None,
        }
        self._n += 1
        item = (seconds, self._n, entry)
        current = self._current
        if len(current) < self.size:
            heapq.heappush(current, item)
        else:
            heapq.heapreplace(current, item)
        if len(current) == self.size:
            self.floor = current[0][0]

    def slowest(self) -> list[dict[str, Any]]:
        """The slowest first."""
        self._rotate(self.clock())
        both = sorted(self._current + self._previous, reverse=True)
        return [entry for _, _, entry in both[: self.size]]


#: Commands whose first argument is a session id (so a slow one can name it).
_BY_ID = frozenset({"open", "read", "write", "peek", "expires"})


class CommandStats:
    """One command's figures: how often it ran (exact) and how long it took (sampled)."""

    __slots__ = ("histogram", "left", "rounds", "sample")

    def __init__(self, sample: int) -> None:
        self.histogram = Histogram()
        self.sample = sample
        #: How many times the countdown to the next timed call ran out, and the countdown of
        #: each of the command's handlers (kept in their closures, where it is cheapest).
        self.rounds = 0
        self.left: list[Callable[[], int]] = []

    @property
    def calls(self) -> int:
        return self.rounds * self.sample + sum(self.sample - left() for left in self.left)


class CommandMetrics:
    """Per-command figures, the slow log and store-call latency of one daemon."""

    def __init__(self, *, sample: int = SAMPLE) -> None:
        self.sample = sample
        self.commands: dict[str, CommandStats] = {}
        self.store: dict[str, Histogram] = {}
        self.slow = SlowLog()

    def command(self, name: str) -> CommandStats:
        return self.commands.setdefault(name, CommandStats(self.sample))


def instrument(tables: Tables, metrics: CommandMetrics, *, log: bool = False) -> Tables:
    """The same tables with every command's handler counted and timed (and each command
    logged at debug, if ``log``: give such ``metrics`` a ``sample`` of 1, to time them all)."""
    wrapped: dict[tuple[str, Any], Spec] = {}

    def wrap(name: bytes, spec: Spec) -> Spec:
        if name in (CODEC_ERROR, PROTOCOL_ERROR):  # what the codecs report, not commands
            return spec
        command = name.decode()
        key = (command, spec[0])
        if key not in wrapped:
            wrapped[key] = (_timed(command, spec[0], metrics, log), spec[1])
        return wrapped[key]

    return Tables._make(
        {name: wrap(name, spec) for name, spec in table.items()} for table in tables
    )


Handler = Callable[[ConnectionState, list[Any]], Any]


def _timed(command: str, handler: Handler, metrics: CommandMetrics, log: bool) -> Handler:
    stats = metrics.command(command)
    histogram = stats.histogram
    counts = histogram.counts
    sample = stats.sample
    slow = metrics.slow

    def noted(
        st: ConnectionState, parts: list[Any], before: bytes | None, took: float, result: Any
    ) -> None:
        # Rare: a command among the slowest, or debug logging.
        sid = _session(command, parts, before, st)
        if took > slow.floor:
            slow.add(took, command, sid, st.peer)
        if log:
            _log(command, st.peer, sid, took, result)

    def waiting(st: ConnectionState, parts: list[Any], started: float, fut: _Future[Any]) -> None:
        before = st.sid  # a close that waits still has its session; at the end it has none

        def done(_: object) -> None:
            took = clock() - started
            histogram.observe(took)
            noted(st, parts, before, took, _outcome(fut))

        fut.add_done_callback(done)

    left = sample

    def timed(st: ConnectionState, parts: list[Any]) -> Any:
        nonlocal left
        left -= 1
        if left:  # not timed this time, unless it waits
            result = handler(st, parts)
            if isinstance(result, _Future):
                waiting(st, parts, clock(), result)
            return result
        left = sample
        stats.rounds += 1
        before = st.sid
        started = clock()
        result = handler(st, parts)
        if isinstance(result, _Future):
            waiting(st, parts, started, result)
            return result
        took = clock() - started
        # Histogram.observe, inlined.
        counts[bisect_left(BOUNDS, took)] += sample
        histogram.total += took * sample
        if took > slow.floor or log:
            noted(st, parts, before, took, result)
        return result

    stats.left.append(lambda: left)
    return timed


#: The outcome of a command whose wait was cancelled (its connection went away).
_CANCELLED: Any = object()


def _outcome(done: asyncio.Future[Any]) -> Any:
    if done.cancelled():
        return _CANCELLED
    return done.exception() or done.result()


def _session(
    command: str, parts: list[Any], before: bytes | None, st: ConnectionState
) -> bytes | None:
    """The session a command was about: the one open before it, or after it (``new``,
    ``open``), or the one it names (``read``, ``write``...)."""
    if before is not None:
        return before
    if st.sid is not None:
        return st.sid
    return parts[1] if command in _BY_ID and len(parts) > 1 else None


def _log(command: str, peer: str, sid: bytes | None, took: float, result: Any) -> None:
    if result.__class__ is Err:
        reply = result.name
    elif isinstance(result, BaseException):
        reply = "exception"
    else:
        reply = "cancelled" if result is _CANCELLED else "ok"
    session = sid_prefix(sid)
    ms = round(took * 1000, 3)
    access_log.debug(
        "%s %s session=%s -> %s in %.3f ms",
        peer or "-",
        command,
        session or "-",
        reply,
        ms,
        extra={
            "peer": peer or None,
            "command": command,
            "session": session,
            "reply": reply,
            "duration_ms": ms,
        },
    )


#: The store's coroutine methods whose calls are timed (those a store has, of these).
STORE_CALLS = (
    "load",
    "create",
    "save",
    "delete",
    "rename",
    "get_ttl",
    "set_ttl",
    "purge_expired",
    "gc",
    "count",
    "peek",
    "scan",
    "apply",
    "user_sessions",
    "lock_acquire",
    "lock_and_load",
    "lock_renew",
    "lock_release",
    "save_and_release",
)


def instrument_storage(store: Storage, metrics: CommandMetrics) -> None:
    """Time every call of the store's coroutine methods, on this instance.

    The synchronous twins (``load_now``, ``save_now``) that in-memory stores serve the
    per-request path with are not store calls that can wait, and are left alone.
    """
    for name in STORE_CALLS:
        if not hasattr(store, name):
            continue  # not this kind of store's call (see storage/base.py)
        histogram = metrics.store.setdefault(name, Histogram())
        setattr(store, name, _timed_call(getattr(store, name), histogram))


def _timed_call(method: Callable[..., Any], histogram: Histogram) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return await method(*args, **kwargs)
        finally:
            histogram.observe(clock() - started)

    return call
