"""Synchronisation and context checks with the same names in both flavours.

The async pool is written once; the sync one is generated from it by renaming (see
``tests/tools/unasync.py``), so each primitive here has an async and a sync twin with the same
interface.  The thread lock of the async flavour is a no-op: one event loop runs the pool's
bookkeeping, which never awaits inside a critical section.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel

__all__ = [
    "AsyncSemaphore",
    "AsyncThreadLock",
    "Semaphore",
    "ThreadLock",
    "async_context",
    "loop_token",
    "sync_context",
]


class AsyncThreadLock:
    def __enter__(self) -> None:
        return None

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class ThreadLock:
    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()


class AsyncSemaphore:
    """A counter of free slots; ``acquire`` waits up to ``wait`` seconds."""

    __slots__ = ("_sem",)

    def __init__(self, value: int) -> None:
        self._sem = anyio.Semaphore(value)

    async def acquire(self, wait: float) -> bool:
        try:
            self._sem.acquire_nowait()  # a free slot: no timer, no trip through the loop
            return True
        except anyio.WouldBlock:
            pass
        with anyio.move_on_after(wait):
            await self._sem.acquire()
            return True
        return False

    def release(self) -> None:
        self._sem.release()


class Semaphore:
    __slots__ = ("_sem",)

    def __init__(self, value: int) -> None:
        self._sem = threading.BoundedSemaphore(value)

    def acquire(self, wait: float) -> bool:
        return self._sem.acquire(timeout=wait)

    def release(self) -> None:
        self._sem.release()


_tokens: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def loop_token() -> Any:
    """anyio's token of the running event loop.  On asyncio it is looked up once per loop:
    anyio's own lookup asks sniffio which library runs on every call, a few microseconds
    that every pooled request and every ASGI request would pay."""
    loop = asyncio._get_running_loop()
    if loop is None:
        return anyio.lowlevel.current_token()
    token = _tokens.get(loop)
    if token is None:
        token = _tokens[loop] = anyio.lowlevel.current_token()
    return token


def async_context() -> tuple[int, object]:
    """What a pool must not be shared across: the process and the event loop (asyncio's or
    trio's)."""
    return os.getpid(), loop_token()


def sync_context() -> tuple[int, object]:
    """What a pool must not be shared across: the process (threads share it fine)."""
    return os.getpid(), None
