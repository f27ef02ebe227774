"""A few PostgreSQL connections in pipeline mode, shared by every caller of one storage.

A caller hands in a *request*: one statement, or a few that form one transaction (a rename),
and awaits its rows.  Requests queue; each lane (a connection) takes every request queued when
it comes free, sends them at once in pipeline mode, each followed by a Sync (so each is its
own transaction, as in autocommit: one failing aborts nothing else), and answers them all from
the one round trip.  So the statements that many daemon connections issue in one loop
iteration share round trips, and a loaded server sees a few busy backends, not many idle ones.
Statements are prepared on the server (``prepare=True``): each lane parses a query once.

Failures: no request waits longer than ``timeout`` from the moment a lane sends it (connecting
included) plus the wait for a lane; when that passes, the lane's requests fail with
:class:`StorageError`, its connection is dropped (psycopg's cancellation goes on in the
background: a partitioned server answers nothing) and the next batch connects afresh, so the
container recovers as soon as the server is back.  A lane whose connection broke while idle (a
server restart, a terminated backend) sends the unanswered requests once more, on a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

import psycopg
from psycopg import AsyncPipeline
from psycopg.rows import TupleRow

from ..base import StorageError

__all__ = ["Lanes", "Statement", "failures"]

logger = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[TupleRow]
#: A query (rendered bytes) and its parameters.
Statement = tuple[bytes, dict[str, Any]]
Rows = list[TupleRow]

#: Requests one lane sends in one round trip at most.
_BATCH = 256


@contextmanager
def failures(message: Callable[[BaseException], str]) -> Iterator[None]:
    """PostgreSQL's failures (and the network's) as the storage's, in one line."""
    try:
        yield
    except psycopg.Error as exc:
        raise StorageError(message(exc)) from exc
    except (TimeoutError, OSError) as exc:
        raise StorageError(message(exc)) from exc


class _Request:
    __slots__ = ("deadline", "future", "statements")

    def __init__(
        self, statements: Sequence[Statement], future: asyncio.Future[Rows], deadline: float
    ) -> None:
        self.statements = statements
        self.future = future
        self.deadline = deadline


class Lanes:
    """``size`` pipelined connections to ``target``; see the module docstring."""

    def __init__(
        self,
        target: str,
        args: dict[str, Any],
        *,
        size: int,
        timeout: float,
        message: Callable[[BaseException], str],
    ) -> None:
        self._target = target
        self._args = args
        self.size = size
        self.timeout = timeout
        self._message = message
        self._queue: deque[_Request] = deque()
        self._wake = asyncio.Event()
        self._conns: list[Conn | None] = [None] * size
        #: Each lane's pipeline, and the context that entered it.
        self._modes: list[Any] = [None] * size
        #: What each lane is sending (the watchdog fails what waits past its deadline).
        self._sending: list[list[_Request]] = [[] for _ in range(size)]
        self._busy = 0
        self._workers: list[asyncio.Task[None]] = []
        #: Batches whose caller stopped waiting, being cancelled (they hold a connection).
        self._abandoned: set[asyncio.Task[Any]] = set()
        self.batches_total = 0
        self.requests_total = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work(lane)) for lane in range(self.size)]
        self._workers.append(loop.create_task(self._watch()))

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        if self._workers:
            await asyncio.wait(self._workers, timeout=self.timeout)
        self._workers = []
        if self._abandoned:
            # Cancelled once already, they wait for the server to confirm; a second cancel
            # makes psycopg close their connections instead.
            for task in self._abandoned:
                task.cancel()
            await asyncio.wait(set(self._abandoned), timeout=self.timeout)
        while self._queue:
            self._fail(self._queue.popleft(), StorageError("postgresql: the storage is stopped"))
        for lane in range(self.size):
            self._abandon(None, lane)
        if self._abandoned:
            await asyncio.wait(set(self._abandoned), timeout=self.timeout)

    def info(self) -> dict[str, int]:
        connected = sum(conn is not None and not conn.closed for conn in self._conns)
        return {
            "postgres_pool_size": connected,
            "postgres_pool_available": self.size - self._busy,
            "postgres_requests_waiting": len(self._queue),
            "postgres_batches_total": self.batches_total,
            "postgres_requests_total": self.requests_total,
        }

    # -- calls --------------------------------------------------------------------------------

    def submit(self, statements: Sequence[Statement]) -> asyncio.Future[Rows]:
        """The rows of the last of ``statements`` (one transaction), once a lane ran them."""
        if not self._workers:
            raise StorageError("postgresql: the storage is not started")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Rows] = loop.create_future()
        self._queue.append(_Request(statements, future, loop.time() + self.timeout))
        self._wake.set()
        return future

    # -- the lanes ----------------------------------------------------------------------------

    async def _work(self, lane: int) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), _BATCH))]
            batch = [request for request in batch if not request.future.done()]
            if not batch:
                continue
            self._busy += 1
            self._sending[lane] = batch
            try:
                await self._send(lane, batch)
            finally:
                self._sending[lane] = []
                self._busy -= 1

    async def _watch(self) -> None:
        """Fail every request, queued or being sent, once its timeout has passed (one timer
        for all of them, instead of one per call)."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            await asyncio.sleep(min(0.1, self.timeout / 4))
            now = loop.time()
            late = [r for r in chain(queue, *self._sending) if r.deadline <= now]
            if late:
                failure = StorageError(f"postgresql: no answer within {self.timeout:g} s")
                for request in late:
                    self._fail(request, failure)
                while queue and queue[0].future.done():
                    queue.popleft()

    async def _send(self, lane: int, batch: list[_Request]) -> None:
        """Run ``batch`` on ``lane`` within the timeout; answer every request of it."""
        self.batches_total += 1
        self.requests_total += len(batch)
        task = asyncio.ensure_future(self._round_trips(lane, batch))
        try:
            done, _ = await asyncio.wait((task,), timeout=self.timeout)
        except asyncio.CancelledError:  # the storage stops
            self._abandon(task, lane)
            for request in batch:
                self._fail(request, StorageError("postgresql: the storage is stopped"))
            raise
        if not done:
            self._abandon(task, lane)
            failure = StorageError(f"postgresql: no answer within {self.timeout:g} s")
            for request in batch:
                self._fail(request, failure)
            return
        exc = task.exception()
        if exc is not None:
            self._abandon(None, lane)
            failure = exc if isinstance(exc, StorageError) else StorageError(self._message(exc))
            for request in batch:
                self._fail(request, failure)

    async def _round_trips(self, lane: int, batch: list[_Request]) -> None:
        for attempt in (1, 2):
            conn = self._conns[lane]
            if conn is None or conn.closed or conn.broken:
                conn = await Conn.connect(self._target, **self._args)
                # In pipeline mode for good (leaving it costs a round trip): each batch ends
                # with a Sync.  The context is kept, or its collection would leave the mode.
                mode = conn.pipeline()
                self._modes[lane] = (mode, await mode.__aenter__())
                self._conns[lane] = conn
            try:
                batch = await self._pipeline(conn, self._modes[lane][1], batch)
            except psycopg.OperationalError:
                # A connection that died while idle is found out here: once more, on another.
                if attempt == 2 or not conn.broken:
                    raise
            if not batch:
                return
            self._abandon(None, lane)
        raise psycopg.OperationalError("the connection broke twice")

    async def _pipeline(
        self, conn: Conn, pipeline: AsyncPipeline, batch: list[_Request]
    ) -> list[_Request]:
        """Send ``batch`` in one round trip; answer what was answered; return the requests
        that got no answer because the connection broke (to be sent again)."""
        # The cursor of each request's last statement: it has a result when its request (a
        # transaction) succeeded.
        cursors = []
        failure: psycopg.Error | None = None
        last = len(batch) - 1
        try:
            for n, request in enumerate(batch):
                for query, params in request.statements:
                    cursor = conn.cursor(binary=True)
                    await cursor.execute(query, params, prepare=True)
                cursors.append(cursor)
                if n < last:
                    # Each request its own transaction: a Sync after it (psycopg has no
                    # public call that queues one without waiting for the results).
                    pipeline._enqueue_sync()
            await pipeline.sync()  # the last Sync, and every result
        except psycopg.Error as exc:
            if conn.broken and all(cursor.pgresult is None for cursor in cursors):
                raise
            failure = exc
        unanswered = []
        for request, cursor in zip(batch, cursors, strict=False):
            if request.future.done():
                continue
            if cursor.pgresult is None:
                if conn.broken:
                    unanswered.append(request)
                else:
                    assert failure is not None
                    self._fail(request, StorageError(self._message(failure)))
                continue
            try:
                rows = await cursor.fetchall() if cursor.description is not None else []
            except psycopg.Error as exc:
                self._fail(request, StorageError(self._message(exc)))
            else:
                request.future.set_result(rows)
        return unanswered + batch[len(cursors) :]

    def _fail(self, request: _Request, failure: BaseException) -> None:
        if not request.future.done():
            request.future.set_exception(failure)

    def _abandon(self, task: asyncio.Future[Any] | None, lane: int) -> None:
        """Let ``task`` (cancelled) and ``lane``'s connection go: the connection is closed
        once the task is done with it, in the background; the lane connects afresh."""
        conn, mode = self._conns[lane], self._modes[lane]
        self._conns[lane] = self._modes[lane] = None
        if task is None and conn is None:
            return
        work = asyncio.ensure_future(self._let_go(task, conn, mode))
        self._abandoned.add(work)
        work.add_done_callback(self._forget)

    async def _let_go(self, task: asyncio.Future[Any] | None, conn: Conn | None, mode: Any) -> None:
        if task is not None:
            task.cancel()
            try:
                await task
            except BaseException:  # nobody waits for its outcome any more
                pass
        if conn is not None and not conn.closed:
            await conn.close()
        if mode is not None:
            # Leave the pipeline mode of the closed connection: that fails at once, quietly
            # (left to the collector, psycopg would log a warning for it).
            with contextlib.suppress(Exception):
                await mode[0].__aexit__(None, None, None)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: nobody is waiting for it any more
