"""Waiting on a socket in the event loop that runs the async client: anyio's way, made cheaper
on asyncio.

:func:`readiness` is called once per connection, inside its event loop, and returns what the
stream waits with: ``readable()``, ``writable()``, ``deadline(seconds)`` (a scope in which the
waits raise ``TimeoutError`` once ``seconds`` have passed), ``release()`` (before the socket
closes) and ``quiet()`` (the loop watches the socket and has seen nothing arrive: the pool's
health check of an idle connection then needs no ``select()``).  On trio (and any other anyio
backend) these are anyio's ``wait_readable``, ``wait_writable`` and ``fail_after``.  On asyncio
they are made cheaper, as they are most of the cost of a small request: anyio's
``wait_readable`` registers and unregisters the socket with the selector on every wait (two
``epoll_ctl`` calls and context-variable lookups), so here the socket stays registered
between replies; and instead of a cancel scope per request, a timer is armed only when a wait
actually waits, and fails that wait's future.  A plain future is awaited, which anyio's
cancel scopes cancel like any other.

A registration that outlives the socket would hand its stale selector key to the next socket
that gets the same file descriptor (asyncio then never polls it), so ``release()`` always
unregisters first, in the loop's own thread: directly, or through ``call_soon_threadsafe``
when the garbage collector runs it in another thread.  A forked child never touches its
parent's loop (the epoll set is shared with the parent): it only closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol

import anyio

__all__ = ["Readiness", "readiness"]


class Readiness(Protocol):
    def readable(self) -> Awaitable[None]: ...

    def writable(self) -> Awaitable[None]: ...

    def deadline(self, seconds: float) -> contextlib.AbstractContextManager[object]: ...

    def release(self, finish: Callable[[], None]) -> None:
        """Stop watching the socket, then call ``finish`` (which closes it)."""

    def quiet(self) -> bool:
        """True if the loop watches the socket and has seen nothing arrive since the last
        wait (False: it does not know, so ask the socket)."""


def readiness(sock: socket.socket) -> Readiness:
    """How to wait on ``sock`` in the running event loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _Anyio(sock)
    return _Asyncio(loop, sock.fileno())


class _Anyio:
    __slots__ = ("_sock",)

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def readable(self) -> Awaitable[None]:
        return anyio.wait_readable(self._sock)

    def writable(self) -> Awaitable[None]:
        return anyio.wait_writable(self._sock)

    def deadline(self, seconds: float) -> contextlib.AbstractContextManager[object]:
        return anyio.fail_after(seconds)

    def release(self, finish: Callable[[], None]) -> None:
        finish()

    def quiet(self) -> bool:
        return False


class _Asyncio:
    """The socket's reader stays registered while nothing unexpected arrives; bytes or an end
    of stream that nobody waits for unregister it (the selector is level-triggered: it would
    call back on every pass of the loop)."""

    __slots__ = ("_fd", "_loop", "_pid", "_registered", "_seconds", "_until", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self._loop = loop
        self._fd = fd
        self._pid = os.getpid()
        self._registered = False
        self._waiter: asyncio.Future[None] | None = None
        self._seconds = 0.0
        #: The loop time at which waits fail, inside a deadline() scope.
        self._until: float | None = None

    def deadline(self, seconds: float) -> _Asyncio:
        self._seconds = seconds
        return self

    def __enter__(self) -> None:
        self._until = self._loop.time() + self._seconds

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._until = None

    def quiet(self) -> bool:
        # Registered means no callback has found bytes or an end of stream nobody waited for.
        return self._registered

    def _ready(self) -> None:
        waiter = self._waiter
        if waiter is None:
            self._loop.remove_reader(self._fd)
            self._registered = False
        elif not waiter.done():
            waiter.set_result(None)

    async def readable(self) -> None:
        loop = self._loop
        if not self._registered:
            loop.add_reader(self._fd, self._ready)
            self._registered = True
        waiter = self._waiter = loop.create_future()
        until = self._until
        timer = None if until is None else loop.call_at(until, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def writable(self) -> None:
        if self._until is None:
            await anyio.wait_writable(self._fd)
            return
        with anyio.fail_after(max(0.0, self._until - self._loop.time())):
            await anyio.wait_writable(self._fd)

    def release(self, finish: Callable[[], None]) -> None:
        loop = self._loop
        if self._registered and self._pid == os.getpid() and not loop.is_closed():
            running = asyncio._get_running_loop()
            if running is not loop and loop.is_running():
                try:
                    loop.call_soon_threadsafe(self.release, finish)
                    return
                except RuntimeError:  # it closed meanwhile
                    pass
            else:
                loop.remove_reader(self._fd)
        self._registered = False
        finish()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
