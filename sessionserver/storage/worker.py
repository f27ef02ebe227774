"""One dedicated thread for a container's blocking work, and the durability barrier.

:class:`Worker` replaces ``loop.run_in_executor`` on the hot path: a job is one put on a
``SimpleQueue`` and its result one ``call_soon_threadsafe``, without the executor's work items,
locks and chained futures.  Jobs run one at a time, in order, which also serialises them.

:class:`Barrier` is what a write-behind container hands out for "everything written so far is
durable": waiters register a plain callback and are called directly, in order, when the batch
commits or fails; there is no asyncio future and no loop iteration per waiter.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Barrier", "Worker"]

T = TypeVar("T")


class Barrier:
    """Settles once: ``error`` is None on success."""

    __slots__ = ("_waiters", "done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        self._waiters: list[Callable[[], None]] = []

    def add(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once settled (at once if it already is)."""
        if self.done:
            callback()
        else:
            self._waiters.append(callback)

    async def wait(self) -> None:
        """Wait until settled (whatever the outcome)."""
        if self.done:
            return
        fut = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        self.add(wake)
        await fut

    def settle(self, error: BaseException | None = None) -> None:
        self.done = True
        self.error = error
        waiters, self._waiters = self._waiters, []
        for callback in waiters:
            callback()


class Worker:
    """A named thread that runs jobs one after the other."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Any] | None] = (
            queue.SimpleQueue()
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    def _main(self) -> None:
        while (job := self._jobs.get()) is not None:
            func, args, reply = job
            try:
                result, error = func(*args), None
            except BaseException as exc:  # handed to the loop thread, which decides
                result, error = None, exc
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(reply, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def post(
        self,
        func: Callable[..., T],
        args: tuple[Any, ...],
        reply: Callable[[T | None, BaseException | None], None],
    ) -> None:
        """Run ``func(*args)`` on the thread; ``reply(result, error)`` runs on the loop."""
        self._jobs.put((func, args, reply))

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` on the thread and wait for it."""
        assert self._loop is not None
        fut: asyncio.Future[T] = self._loop.create_future()

        def reply(result: T | None, error: BaseException | None) -> None:
            if fut.done():
                return
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)  # type: ignore[arg-type]

        self.post(func, args, reply)
        return await fut

    async def stop(self) -> None:
        """Finish the queued jobs, then end the thread."""
        if self._thread.is_alive():
            await self.run(lambda: None)  # everything queued before is done
            self._jobs.put(None)
            self._thread.join()  # it has nothing left to do: this returns at once
