"""One client connection: bytes in, codec, dispatcher, bytes out.

An ``asyncio.Protocol`` rather than streams: a stream reader costs an ``await`` per read and a
task per connection, which alone would miss the speed targets.  Each ``data_received`` parses
every complete line, runs the commands in order and writes all their replies in one call.  When
a command has to wait (a lock, a storage thread), the remaining lines wait behind it, so replies
always come back in request order.

Replies to writes on a write-behind storage are held back until the storage's durability
barrier for that write completes; a failed barrier closes the connection without the ``ok``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

from ..logs import sid_prefix
from ..protocol.replies import (
    AUTH_FAILED,
    INTERNAL,
    LINE_TOO_LONG,
    LOCKED,
    MISSING_ARGUMENT,
    SESSION_TOO_LARGE,
    SHUTTING_DOWN,
    STORAGE_UNAVAILABLE,
    TOO_MANY_CONNECTIONS,
    TOO_MANY_KEYS,
    VALUE_TOO_LARGE,
    Err,
)
from ..protocol.resp import RespServerCodec
from ..protocol.resp import encode_reply as resp_reply
from ..protocol.text import TextServerCodec
from ..protocol.text import encode_reply as text_reply
from ..storage import StorageError
from ..storage.worker import Barrier
from .sessions.state import QUIT, ConnectionState
from .tables import UNKNOWN

if TYPE_CHECKING:
    from .server import Server

__all__ = ["ServerConnection"]

logger = logging.getLogger(__name__)

_Future = asyncio.Future
#: The error replies that mean a client was refused by a limit or a wrong token: logged at
#: warning, as what the operator may have to act on.
_WARN = {
    AUTH_FAILED: "authentication failed",
    TOO_MANY_CONNECTIONS: "connection limit reached",
    LINE_TOO_LONG: "limit reached",
    VALUE_TOO_LARGE: "limit reached",
    TOO_MANY_KEYS: "limit reached",
    SESSION_TOO_LARGE: "limit reached",
    LOCKED: "lock wait timed out",
}
#: Queue this many requests behind a waiting command before we stop reading from the socket.
_QUEUE_LIMIT = 1024


class ServerConnection(asyncio.Protocol):
    """The protocol instance of one client connection."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.manager = server.manager
        self.counters = server.counters
        # The first byte decides the framing: "*" is RESP2, anything else text.
        self.codec: TextServerCodec | RespServerCodec | _Sniffer = _Sniffer(self)
        self.encode = text_reply
        self.ok = text_reply(None)
        self.state = ConnectionState(server.manager, server.tables, token=server.token)
        self.transport: asyncio.Transport | None = None
        #: Requests read so far (the idle sweep notices when it stops moving).
        self.commands = 0
        self.idle_mark = (-1, 0.0)
        self._waiting: asyncio.Future[Any] | None = None
        self._queue: list[list[Any]] = []
        self._held: list[tuple[bytes, Barrier | None]] = []
        self._read_paused = False
        self._write_paused = False
        self._shutting_down = False
        #: The warnings this connection has had logged (see ``_error``).
        self._warned: set[Err] = set()

    def use_framing(self, first_byte: int) -> None:
        max_line = self.server.config.max_line
        if first_byte == 42:  # "*"
            self.codec = RespServerCodec(max_line, self.server.config.max_args)
            self.encode = resp_reply
            self.ok = resp_reply(None)
            self.state.resp = True
        else:
            self.codec = TextServerCodec(max_line)

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self.transport = transport = cast(asyncio.Transport, transport)
        counters = self.counters
        peer = transport.get_extra_info("peername")
        self.state.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        if counters.connections >= self.server.config.max_connections:
            counters.connections_rejected += 1
            self._error(TOO_MANY_CONNECTIONS)
            transport.write(TOO_MANY_CONNECTIONS.text)
            transport.close()
            self.transport = None
            return
        counters.connections += 1
        counters.connections_total += 1
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return
        self.transport = None
        self.counters.connections -= 1
        self.server.forget(self)
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        self.manager.disconnect(self.state)
        self._held.clear()
        self._queue.clear()

    def data_received(self, data: bytes) -> None:
        requests = self.codec.feed(data)
        if not requests:
            return
        # A counter, not a clock read per packet: the idle sweep notices when it stops moving.
        self.commands += len(requests)
        self.counters.commands += len(requests)
        if self._waiting is not None:
            self._queue.extend(requests)
            if len(self._queue) > _QUEUE_LIMIT:
                self._pause_reading()
            return
        self._run(requests)

    def eof_received(self) -> bool | None:
        return None  # close our side too once replies are out

    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._maybe_resume_reading()

    # -- running commands -----------------------------------------------------------------------

    def _run(self, requests: list[list[Any]]) -> None:
        # The hottest loop of the daemon: every request line passes here.  Kept flat on
        # purpose; a bare ``ok`` is appended without a call.
        st = self.state
        ok = self.ok
        out: list[bytes] = []
        append = out.append
        pending = iter(requests)
        for parts in pending:
            # The table depends on the connection's state (see dispatcher), which a command
            # may change: read it per line.
            table = st.table
            handler, nparts = table.get(parts[0]) or table.get(parts[0].lower(), UNKNOWN)
            if len(parts) < nparts:
                result: Any = MISSING_ARGUMENT
            else:
                try:
                    result = handler(st, parts)
                except Exception:
                    result = self._failed()
                if result is None:
                    append(ok)
                    continue
                if isinstance(result, _Future):
                    if out:
                        self._emit(b"".join(out))
                    self._waiting = result
                    self._queue = list(pending)
                    result.add_done_callback(self._resume)
                    return
            if result.__class__ is Err:
                if result is QUIT:
                    append(ok)
                    break
                self._error(result)
            append(self.encode(result))
        if out:
            if st.barrier is None and not self._held:
                self.transport.write(b"".join(out))  # type: ignore[union-attr]
            else:
                self._emit(b"".join(out))
        if st.closing:
            self._close_when_flushed()

    def _resume(self, fut: asyncio.Future[Any]) -> None:
        if self._waiting is not fut:
            return  # the connection is gone
        self._waiting = None
        if fut.cancelled():
            result: Any = SHUTTING_DOWN
        elif (exc := fut.exception()) is not None:
            result = self._failed(exc)
        else:
            result = fut.result()
        if result is QUIT:
            result = None
        elif result.__class__ is Err:
            self._error(result)
        self._emit(self.encode(result))
        if self.state.closing or self._shutting_down:
            self._close_when_flushed()
            return
        queue = self._queue
        self._queue = []
        if queue:
            self._run(queue)
        if self._waiting is None:
            self._maybe_resume_reading()

    def _error(self, err: Err) -> None:
        # The error path only: count the reply, and say so when a client hit a limit, once
        # per connection and kind (a client repeating a wrong token must not flood the log).
        self.counters.failed(err)
        if err in _WARN and err not in self._warned:
            self._warned.add(err)
            st = self.state
            logger.warning(
                "%s from %s: %s (once per connection)",
                _WARN[err],
                st.peer or "a client",
                err.message,
                extra={"peer": st.peer or None, "reply": err.name, "session": sid_prefix(st.sid)},
            )

    def _failed(self, exc: BaseException | None = None) -> Any:
        if exc is None:
            logger.exception("command failed")
        elif isinstance(exc, StorageError):
            logger.error("storage failed: %s", exc)
            return STORAGE_UNAVAILABLE
        else:
            logger.error("command failed", exc_info=exc)
        return INTERNAL

    # -- output, behind durability barriers -----------------------------------------------------

    def _emit(self, data: bytes) -> None:
        barrier = self.state.barrier
        if barrier is not None:
            self.state.barrier = None
        if self._held:
            self._held.append((data, barrier))
            return
        if barrier is None or (barrier.done and barrier.error is None):
            if self.transport is not None:
                self.transport.write(data)
            return
        self._held.append((data, barrier))
        self._drain_held()

    def _drain_held(self) -> None:
        held = self._held
        transport = self.transport
        while held and transport is not None:
            data, barrier = held[0]
            if barrier is not None:
                if not barrier.done:
                    barrier.add(self._drain_held)
                    return
                if barrier.error is not None:
                    # Never acknowledge what did not reach the disk.
                    logger.error("storage write failed; closing a connection without its ok")
                    held.clear()
                    transport.abort()
                    return
            del held[0]
            transport.write(data)
        if not held and (self.state.closing or self._shutting_down) and self._waiting is None:
            self._close_when_flushed()

    def _close_when_flushed(self) -> None:
        if self._held:
            return  # _drain_held closes once the held replies are out
        if self.transport is not None:
            self.transport.close()

    # -- flow control ---------------------------------------------------------------------------

    def _pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if (
            self._read_paused
            and not self._write_paused
            and self._waiting is None
            and self.transport is not None
        ):
            self._read_paused = False
            self.transport.resume_reading()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a command is in flight or replies are held back."""
        return self._waiting is not None or bool(self._held)

    def shutdown(self) -> None:
        """Finish what is in flight, then close; close at once if idle."""
        self._shutting_down = True
        self._queue.clear()
        if not self.busy:
            self._close_when_flushed()

    def abort(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
        if self.transport is not None:
            self.transport.abort()


class _Sniffer:
    """A connection's codec until its first bytes arrive: they decide the framing."""

    __slots__ = ("_conn",)

    def __init__(self, conn: ServerConnection) -> None:
        self._conn = conn

    def feed(self, data: bytes) -> list[list[Any]]:
        conn = self._conn
        conn.use_framing(data[0])
        return conn.codec.feed(data)
