"""A lean asyncio connection to one Redis server: hiredis parses the replies, and every command
issued in one turn of the event loop, by any of the daemon's client connections, goes out in
one write (auto-pipelining, as ioredis and Lettuce do).

One connection carries everything: Redis runs commands one at a time anyway, and one write and
one read per loop turn is what costs least on both sides.  Replies resolve the futures of their
commands in order.  Time is bounded without a timer per call: each write is a batch with one
deadline (``timeout`` after its first command was issued), and one loop timer looks at the
oldest unanswered batch.  A batch past its deadline means the server or the network is gone:
the connection is dropped and everything in flight on it fails with :class:`StorageError`
(replies come in order, so nothing later could be told apart).  The next command reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from ssl import SSLContext
from typing import Any

import hiredis

from ...exceptions import StorageError
from ...futures import settle_from
from .scripts import Script

__all__ = ["RedisConnection"]

Future = asyncio.Future


class _ErrorReply(Exception):
    """An error reply, as hiredis builds it."""


#: What turns a reply into the caller's result (it may raise what the reply means, or return
#: a future of the result when the reply calls for a follow-up), or None.
Convert = Callable[[Any], Any] | None
#: A command waiting for its reply: the future its reply settles (or, for a script whose
#: reply goes with the command after it, the list that keeps it), its conversion, and for an
#: ``EVALSHA`` what sends the call again in full should the server not know the script.
Entry = tuple["Future[Any] | list[Any]", Convert, Callable[[], None] | None]


class _NoScript(Exception):
    """The script of a paired call was unknown to the server (send the pair again in full)."""


def _paired(first: list[Any], convert: Callable[[Any], Any], reply: Any) -> Any:
    """A script's reply and the reply of the command sent after it, converted together."""
    head = first[0]
    if head.__class__ is _ErrorReply:
        if str(head).startswith("NOSCRIPT"):
            raise _NoScript
        raise StorageError(f"redis: {head}")
    return convert((head, reply))


def _fail(entries: Iterable[Entry], error: StorageError) -> None:
    for future, _, _ in entries:
        if isinstance(future, Future) and not future.done():
            future.set_exception(StorageError(str(error)))


class _Link(asyncio.Protocol):
    """One TCP (or TLS) connection: its replies resolve its commands' futures in order."""

    def __init__(self, owner: RedisConnection, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop
        self.reader = hiredis.Reader(replyError=_ErrorReply)
        self.waiting: deque[Entry] = deque()
        self.transport: asyncio.Transport | None = None
        #: Commands written and replies read so far; (commands written after a batch, its
        #: deadline) for each batch not known to be answered.
        self.sent = self.answered = 0
        self.batches: deque[tuple[int, float]] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.error: StorageError | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        answered = 0
        try:
            while (reply := reader.gets()) is not False:
                future, convert, again = waiting.popleft()
                answered += 1
                if isinstance(future, list):  # a script's reply, for the command after it
                    future.append(reply)
                    continue
                if future.done():  # its caller gave up on it
                    continue
                if reply.__class__ is _ErrorReply:
                    if again is not None and str(reply).startswith("NOSCRIPT"):
                        again()
                    else:
                        future.set_exception(StorageError(f"redis: {reply}"))
                elif convert is None:
                    future.set_result(reply)
                else:
                    try:
                        value = convert(reply)
                    except _NoScript:
                        if again is not None:
                            again()
                        else:
                            future.set_exception(StorageError("redis: NOSCRIPT after EVAL"))
                    except Exception as exc:  # a refusal the reply means (LockLost, say)
                        future.set_exception(exc)
                    else:
                        if isinstance(value, Future):  # a follow-up call: settle with it
                            value.add_done_callback(partial(settle_from, future))
                        else:
                            future.set_result(value)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbled, or a reply nobody asked for
            self.fail(StorageError(f"redis: unexpected reply ({exc or 'unsolicited'})"))
        self.answered += answered

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(StorageError(f"redis: connection lost ({exc or 'closed by the server'})"))

    def write(self, chunks: list[bytes], entries: list[Entry], deadline: float) -> None:
        transport = self.transport
        if self.error is not None or transport is None or transport.is_closing():
            _fail(entries, self.error or StorageError("redis: connection lost"))
            return
        self.waiting.extend(entries)
        self.sent += len(entries)
        self.batches.append((self.sent, deadline))
        try:
            transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        except (OSError, RuntimeError) as exc:  # uvloop: a transport the server just reset
            self.fail(StorageError(f"redis: connection lost ({exc})"))
            return
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._check)

    def _check(self) -> None:
        """The one timer: fail everything if the oldest unanswered batch is past its deadline,
        else look again at that deadline."""
        self.timer = None
        batches = self.batches
        while batches and batches[0][0] <= self.answered:
            batches.popleft()
        if not batches:
            return
        deadline = batches[0][1]
        if deadline <= self.loop.time():
            self.fail(StorageError(f"redis: no answer within {self.owner.timeout:g} s"))
        else:
            self.timer = self.loop.call_at(deadline, self._check)

    def fail(self, error: StorageError) -> None:
        """Drop the connection and fail every command in flight on it."""
        if self.error is None:
            self.error = error
            self.owner.lost(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()
        waiting, self.waiting = self.waiting, deque()
        _fail(waiting, error)


class RedisConnection:
    """Commands to one Redis server, pipelined per loop turn; see the module docstring.

    Args:
        host, port: the server.
        ssl: a TLS context (``rediss://``), or None.
        username, password: for ``AUTH``, when the URL names them.
        db: the database to ``SELECT``, when not 0.
        timeout: seconds any command may take, connecting included.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl: SSLContext | None,
        username: str | None,
        password: str | None,
        db: int,
        timeout: float,
    ) -> None:
        self.host, self.port, self.ssl, self.timeout = host, port, ssl, timeout
        hello: list[tuple[Any, ...]] = []
        if password is not None:
            hello.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            hello.append(("SELECT", db))
        self._hello = hello
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link: _Link | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._chunks: list[bytes] = []
        self._entries: list[Entry] = []
        self._since = 0.0  # when the first command of the batch being assembled was issued
        self._closed = False

    # -- commands ---------------------------------------------------------------------------

    def call(self, *args: Any) -> Future[Any]:
        """Send one command (with the others of this loop turn); a future of its reply."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue(hiredis.pack_command(args), future, None, None)
        return future

    def run(
        self,
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[Any],
        convert: Convert = None,
        also: Sequence[Any] | None = None,
    ) -> Future[Any]:
        """A Lua script's result (``convert(reply)`` if given), as a future: called by its SHA,
        sent in full if the server does not have it.  With ``also``, that command is sent right
        after the script (not atomically with it) and ``convert`` turns the two replies, as a
        pair, into the result.  No coroutine: the reply resolves the future as it is read."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._script(future, script, keys, args, convert, also, True)
        return future

    def _script(
        self,
        future: Future[Any],
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[Any],
        convert: Convert,
        also: Sequence[Any] | None,
        by_sha: bool,
    ) -> None:
        if by_sha:
            command = hiredis.pack_command((b"EVALSHA", script.sha, len(keys), *keys, *args))
            again: Callable[[], None] | None = partial(
                self._script, future, script, keys, args, convert, also, False
            )
        else:
            command = hiredis.pack_command((b"EVAL", script.text, len(keys), *keys, *args))
            again = None
        if also is None:
            self.queue(command, future, convert, again)
            return
        assert convert is not None
        first: list[Any] = []
        self.queue(command, first, None, None)
        self.queue(
            hiredis.pack_command(tuple(also)), future, partial(_paired, first, convert), again
        )

    def queue(
        self,
        command: bytes,
        future: Future[Any] | list[Any],
        convert: Convert,
        again: Callable[[], None] | None,
    ) -> None:
        """Add a packed command to the batch of this loop turn."""
        entries = self._entries
        if not entries:
            loop = self._loop
            assert loop is not None
            self._since = loop.time()
            loop.call_soon(self._flush)
        self._chunks.append(command)
        entries.append((future, convert, again))

    async def batch(
        self, script: Script, calls: Sequence[tuple[Sequence[bytes], Sequence[Any]]]
    ) -> list[Any]:
        """Several calls of one script (they go out in one write); their results."""
        return list(await asyncio.gather(*(self.run(script, k, a) for k, a in calls)))

    async def scan(self, cursor: int, match: bytes, count: int) -> tuple[int, list[bytes]]:
        following, keys = await self.call(b"SCAN", cursor, b"MATCH", match, b"COUNT", count)
        return int(following), list(keys)

    # -- the connection ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect now (and say why not, as a :class:`StorageError`)."""
        await self.call(b"PING")

    async def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, StorageError):
                await self._connecting
        if self._link is not None:
            self._link.fail(StorageError("redis: the connection was closed"))
        self._drop_queued(StorageError("redis: the connection was closed"))

    def lost(self, link: _Link) -> None:
        if self._link is link:
            self._link = None

    def _drop_queued(self, error: StorageError) -> None:
        entries, self._entries, self._chunks = self._entries, [], []
        _fail(entries, error)

    def _flush(self) -> None:
        if not self._entries:
            return
        link = self._link
        if link is None:
            if self._closed:
                self._drop_queued(StorageError("redis: the connection was closed"))
            elif self._connecting is None:
                assert self._loop is not None
                self._connecting = self._loop.create_task(self._connect())
            return  # sent once connected
        chunks, entries = self._chunks, self._entries
        self._chunks, self._entries = [], []
        link.write(chunks, entries, self._since + self.timeout)

    async def _connect(self) -> None:
        try:
            self._link = await self._open()
        except StorageError as exc:
            self._drop_queued(exc)
        finally:
            self._connecting = None
        self._flush()

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        link: _Link | None = None
        try:
            async with asyncio.timeout(self.timeout):
                _, link = await loop.create_connection(
                    lambda: _Link(self, loop),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl is not None else None,
                )
                if self._hello:
                    futures = [loop.create_future() for _ in self._hello]
                    link.write(
                        [hiredis.pack_command(c) for c in self._hello],
                        [(future, None, None) for future in futures],
                        loop.time() + self.timeout,
                    )
                    for future in futures:
                        await future
            return link
        except BaseException as exc:
            if link is not None:
                link.fail(StorageError("redis: could not connect"))
            if isinstance(exc, TimeoutError):
                raise StorageError(f"redis: no answer within {self.timeout:g} s") from None
            if isinstance(exc, OSError):  # ssl.SSLError included
                raise StorageError(f"redis: {exc}") from exc
            raise
