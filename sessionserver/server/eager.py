"""Values that may still be on their way: run a coroutine inline until it first has to wait,
and chain steps onto a result that is either a value or a future of one.

Most commands on the in-memory containers never wait: their coroutines finish on the first
``send``.  Wrapping each in a Task would cost a loop iteration and several microseconds per
command, the whole per-line budget.  :func:`eager` runs the coroutine synchronously and only
when it really awaits a future hands the rest of it to a Task, once that future is done (a Task
must not resume a coroutine whose future is still pending).  This is what Python 3.12's
``asyncio.eager_task_factory`` does; we support 3.11.

:func:`then` chains a step onto such a result without a coroutine at all when it is a value:
the session manager's per-request steps are written once in that style, and cost a function
call on a store that answers at once (memory) and a callback on one that makes them wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from ..futures import settle_from

__all__ = ["Future", "RunningLoop", "chain", "eager", "resolve", "then"]

Future = _Future = asyncio.Future


class RunningLoop:
    """The daemon's event loop, found once: under Python 3.11, ``asyncio.get_running_loop()``
    (and so ``asyncio.ensure_future``) makes a ``getpid()`` system call every time, several per
    request on the hot paths.  A loop that has been closed is looked up again."""

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        return loop


def eager(coro: Coroutine[Any, Any, Any] | asyncio.Future[Any]) -> Any:
    """The coroutine's result if it completes without waiting, else a future of it; a future
    (what a store call that needs no coroutine returns) is returned as it is.

    Callers tell the two apart with ``isinstance(result, asyncio.Future)``; the coroutines
    run this way never return a future themselves.  Cancelling the returned future cancels the
    coroutine wherever it is.
    """
    if isinstance(coro, _Future):
        return coro
    try:
        awaited = coro.send(None)
    except StopIteration as stop:
        return stop.value
    return _finish_later(coro, awaited)


def _finish_later(coro: Coroutine[Any, Any, Any], awaited: Any) -> asyncio.Future[Any]:
    loop = awaited.get_loop() if isinstance(awaited, _Future) else asyncio.get_running_loop()
    outer: asyncio.Future[Any] = loop.create_future()
    task: asyncio.Task[Any] | None = None

    def start(_: object = None) -> None:
        nonlocal task
        if outer.done():  # cancelled while waiting for the first future
            return
        task = loop.create_task(coro)
        task.add_done_callback(partial(settle_from, outer))

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


def then(
    result: Any,
    step: Callable[[Any], Any],
    failed: Callable[[BaseException], Any] | None = None,
) -> Any:
    """``step(result)`` now if ``result`` is a value, else a future of ``step`` applied to the
    future's result once it is done (``failed(exc)`` instead if it raised and ``failed`` is
    given).  Either function may itself return a future: the outcome is flattened.

    Cancelling the returned future cancels the one it waits for.
    """
    if not isinstance(result, _Future):
        return step(result)
    outer: asyncio.Future[Any] = result.get_loop().create_future()

    def settle(done: asyncio.Future[Any]) -> None:
        if outer.done():
            return
        if done.cancelled():
            outer.cancel()
            return
        try:
            exc = done.exception()
            if exc is None:
                value = step(done.result())
            elif failed is None:
                raise exc
            else:
                value = failed(exc)
        except BaseException as error:
            outer.set_exception(error)
            return
        if isinstance(value, _Future):
            chain(value, outer)
        else:
            outer.set_result(value)

    def on_outer_done(_: asyncio.Future[Any]) -> None:
        if outer.cancelled():
            result.cancel()

    result.add_done_callback(settle)
    outer.add_done_callback(on_outer_done)
    return outer


def chain(inner: asyncio.Future[Any], outer: asyncio.Future[Any]) -> None:
    """Settle ``outer`` as ``inner`` settles; cancelling ``outer`` cancels ``inner``."""

    inner.add_done_callback(partial(settle_from, outer))
    outer.add_done_callback(lambda _: inner.cancel() if outer.cancelled() else None)


async def resolve(result: Any) -> Any:
    """Await ``result`` if it is a future; for coroutines that take a step's result."""
    if isinstance(result, _Future):
        return await result
    return result
