"""Run a coroutine inline until it first has to wait.

Most commands on the in-memory containers never wait: their coroutines finish on the first
``send``.  Wrapping each in a Task would cost a loop iteration and several microseconds per
command, the whole per-line budget.  :func:`eager` runs the coroutine synchronously and only
when it really awaits a future hands the rest of it to a Task, once that future is done (a Task
must not resume a coroutine whose future is still pending).  This is what Python 3.12's
``asyncio.eager_task_factory`` does; we support 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["eager"]


def eager(coro: Coroutine[Any, Any, Any]) -> Any:
    """The coroutine's result if it completes without waiting, else a future of it.

    Callers tell the two apart with ``isinstance(result, asyncio.Future)``; the coroutines
    run this way never return a future themselves.  Cancelling the returned future cancels the
    coroutine wherever it is.
    """
    try:
        awaited = coro.send(None)
    except StopIteration as stop:
        return stop.value
    return _finish_later(coro, awaited)


def _finish_later(coro: Coroutine[Any, Any, Any], awaited: Any) -> asyncio.Future[Any]:
    loop = asyncio.get_running_loop()
    outer: asyncio.Future[Any] = loop.create_future()
    task: asyncio.Task[Any] | None = None

    def start(_: object = None) -> None:
        nonlocal task
        if outer.done():  # cancelled while waiting for the first future
            return
        task = loop.create_task(coro)
        task.add_done_callback(finish)

    def finish(done: asyncio.Task[Any]) -> None:
        if outer.done():
            return
        if done.cancelled():
            outer.cancel()
        elif (exc := done.exception()) is not None:
            outer.set_exception(exc)
        else:
            outer.set_result(done.result())

    def on_outer_done(_: asyncio.Future[Any]) -> None:
        if not outer.cancelled():
            return
        if task is not None:
            task.cancel()
        else:
            if isinstance(awaited, asyncio.Future):
                awaited.cancel()
            coro.close()

    outer.add_done_callback(on_outer_done)
    if awaited is None:  # a bare yield, as asyncio.sleep(0) does
        loop.call_soon(start)
    elif isinstance(awaited, asyncio.Future):
        awaited._asyncio_future_blocking = False
        awaited.add_done_callback(start)
    else:
        coro.close()
        raise RuntimeError(f"coroutine yielded {awaited!r}, not an asyncio future")
    return outer
