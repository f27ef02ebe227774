"""One client connection: bytes in, codec, dispatcher, bytes out.

An ``asyncio.Protocol`` rather than streams: a stream reader costs an ``await`` per read and a
task per connection, which alone would miss the speed targets.  Each ``data_received`` parses
every complete request, runs the commands in order and writes all their replies in one call.
When a command has to wait (a lock, a storage thread), the remaining requests wait behind it,
so replies always come back in request order.

Replies to writes on a write-behind storage are held back until the storage's durability
barrier for that write completes; a failed barrier closes the connection without the ``ok``.

No client can hold the event loop or the daemon's memory (issue 10):

- Work per turn of the loop is bounded: at most ``_SLICE`` bytes are parsed and ``_BUDGET``
  requests run, then the connection stops reading and goes on in a later turn, after the
  other connections have had theirs.  Small pipelines, the normal case, take the direct path.
- Output is bounded: a connection whose unsent replies pass ``--output-high-water`` stops
  running requests (and reading) until the client has read them; one whose unsent replies
  pass ``--output-limit`` (a client that never reads a reply larger than that) is dropped.
- Before ``auth`` (when the server has a token), requests are parsed one at a time with small
  limits (see ``framing``); the request after a good ``auth`` has the full ones.  After
  ``MAX_AUTH_FAILURES`` wrong tokens the connection is closed.
- On shutdown, what was read and what waits in the socket is answered (see :meth:`shutdown`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

from ..protocol.replies import (
    AUTH_FAILED,
    LINE_TOO_LONG,
    MISSING_ARGUMENT,
    SHUTTING_DOWN,
    Err,
)
from ..protocol.resp import PROTOCOL_ERROR, RespServerCodec
from ..protocol.resp import encode_reply as resp_reply
from ..protocol.text import CODEC_ERROR
from ..protocol.text import encode_reply as text_reply
from .admission import Refusal
from .errors import MAX_AUTH_FAILURES, ErrorReplies
from .framing import PRE_AUTH_LINE, Codec, Sniffer, new_codec, parse_all, raise_limits
from .inbox import Inbox, unread
from .output import Output
from .sessions.state import QUIT, ConnectionState
from .tables import UNKNOWN

if TYPE_CHECKING:
    from .server import Server

__all__ = ["MAX_AUTH_FAILURES", "ServerConnection"]

logger = logging.getLogger(__name__)

_Future = asyncio.Future
#: Bytes parsed, and requests run, per turn of the event loop and connection.
_SLICE = 16 * 1024
_BUDGET = 128
#: Bytes read while a command waits before the connection stops reading.
_INPUT_LIMIT = 64 * 1024


class ServerConnection(asyncio.Protocol):
    """The protocol instance of one client connection."""

    output: Output  # from connection_made on
    _loop: asyncio.AbstractEventLoop  # from connection_made on

    def __init__(self, server: Server) -> None:
        self.server = server
        self.manager = server.manager
        self.counters = server.counters
        config = server.config
        # The first byte decides the framing: "*" is RESP2, anything else text.
        self.codec: Codec | Sniffer | Refusal = Sniffer(self)
        self.encode = text_reply
        self.ok = text_reply(None)
        every = server.token is None and server.admin_token is None  # no roles at all
        self.state = ConnectionState(
            server.manager,
            server.tables if every else server.app_tables,
            token=server.token,
            admin_token=server.admin_token,
            admin_tables=server.tables,
        )
        self.replies = ErrorReplies(self.counters, self.state)
        #: Still to authenticate: requests are parsed one at a time, with small limits.
        self.gated = config.auth_token is not None
        #: Neither gated nor shutting down: data may take the direct path.
        self._direct = not self.gated
        self.transport: asyncio.Transport | None = None
        self.host = ""
        #: Requests read so far (the idle sweep notices when it stops moving).
        self.commands = 0
        self.idle_mark = (-1, 0.0)
        self._waiting: asyncio.Future[Any] | None = None
        #: Replies ready but not written yet: a phase that waits on the store goes out in one
        #: write with the rest of its replies (see _hold), not one write per wait.
        self._unsent: list[bytes] = []
        #: Requests read and not run yet; bytes read and not parsed yet.
        self._queue: list[list[Any]] = []
        self._input = Inbox()
        self._more = False  # the gated codec may hold another complete request
        self._scheduled: asyncio.Handle | None = None
        self._read_paused = False
        self._shutting_down = False
        self._counted = False
        self._eof = False

    def use_framing(self, first_byte: int) -> Codec:
        self.codec = codec = new_codec(first_byte, self.server.config, gated=self.gated)
        if isinstance(codec, RespServerCodec):
            self.encode = resp_reply
            self.ok = resp_reply(None)
            self.state.resp = True
        return codec

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement it.
        self.transport = transport = cast(asyncio.Transport, transport)
        self._loop = asyncio.get_running_loop()  # once (a getpid() per call under 3.11)
        peer = transport.get_extra_info("peername")
        self.host = peer[0] if isinstance(peer, tuple) else ""
        self.state.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        config = self.server.config
        self.output = Output(
            transport,
            high=config.output_high_water,
            limit=config.output_limit,
            host=self.host,
            drained=self._drained,
        )
        counters = self.counters
        refusal = self.server.admission.admit(self.host, counters.connections)
        if refusal is not None:
            counters.connections_rejected += 1
            counters.failed(refusal)
            self.codec = Refusal(self, refusal)
            return
        self._counted = True
        counters.connections += 1
        counters.connections_total += 1
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return
        self.transport = None
        if isinstance(self.codec, Refusal):
            self.codec.done()
            return
        if not self._counted:
            return
        self.counters.connections -= 1
        self.server.admission.release(self.host)
        self.server.forget(self)
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        self.manager.disconnect(self.state)
        self.output.detach()
        self._queue.clear()
        self._input.clear()

    def data_received(self, data: bytes) -> None:
        if (
            self._waiting is not None
            or self._scheduled is not None
            or self._queue
            or self._input.size
            or not self._direct
            or len(data) > _SLICE
        ):
            self._take(data)
            return
        # The direct path: a pipeline that fits in one turn, nothing waiting before it.
        requests = self.codec.feed(data)
        if not requests:
            return
        # A counter, not a clock read per packet: the idle sweep notices when it stops moving.
        self.commands += len(requests)
        self.counters.commands += len(requests)
        if len(requests) > _BUDGET:
            self._queue = requests[_BUDGET:]
            requests = requests[:_BUDGET]
        self._run(requests)
        if self._queue:
            self._later()

    def eof_received(self) -> bool | None:
        # What the client sent before its EOF is answered, then our side closes (see _go_on);
        # but a command waiting for a lock or the storage is given up with what follows it.
        self._eof = True
        if self._waiting is None and (self._queue or self._input or self.output.held):
            return True
        return None

    def pause_writing(self) -> None:
        self.output.paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self.output.paused = False
        self._go_on()

    # -- running commands -----------------------------------------------------------------------

    def _run(self, requests: list[list[Any]]) -> None:
        # The hottest loop of the daemon: every request passes here.  Kept flat on purpose; a
        # bare ``ok`` is appended without a call, and only other replies are measured.
        st = self.state
        ok = self.ok
        encode = self.encode
        output = self.output
        high = output.high
        out: list[bytes] = []
        append = out.append
        size = 0
        pending = iter(requests)
        for parts in pending:
            # The table depends on the connection's state (see dispatcher), which a command
            # may change: read it per request.
            table = st.table
            handler, nparts = table.get(parts[0]) or table.get(parts[0].lower(), UNKNOWN)
            if len(parts) < nparts:
                result: Any = MISSING_ARGUMENT
            else:
                try:
                    result = handler(st, parts)
                except Exception:
                    result = self.replies.failed()
                if result is None:
                    append(ok)
                    continue
                if isinstance(result, _Future):
                    if out:
                        self._hold(b"".join(out))
                    self._waiting = result
                    rest = list(pending)
                    if rest:
                        self._queue[:0] = rest
                    result.add_done_callback(self._resume)
                    return
            if result.__class__ is Err:
                if result is QUIT:
                    append(ok)
                    break
                self.replies.sent(result)
                if result is AUTH_FAILED and self.replies.auth_failed():
                    append(encode(result))
                    break
            reply = encode(result)
            append(reply)
            size += len(reply)
            if size > high:  # the rest waits until the client has read these
                rest = list(pending)
                if rest:
                    self._queue[:0] = rest
                break
        if self._unsent:
            out[:0] = self._unsent
            self._unsent = []
        if out:
            if st.barrier is None and not output.held:
                self.transport.write(b"".join(out))  # type: ignore[union-attr]
                if output.paused:
                    output.check()
            else:
                self._emit(b"".join(out))
        if st.closing:
            self._queue.clear()
            self._input.clear()
            self._close_when_flushed()

    def _resume(self, fut: asyncio.Future[Any]) -> None:
        if self._waiting is not fut:
            return  # the connection is gone
        self._waiting = None
        if fut.cancelled():
            result: Any = SHUTTING_DOWN
        elif (exc := fut.exception()) is not None:
            result = self.replies.failed(exc)
        else:
            result = fut.result()
        if result is QUIT:
            result = None
        elif result.__class__ is Err:
            self.replies.sent(result)
        self._hold(self.encode(result))
        if not (self._queue or self._input or self._more) or self.output.blocked:
            self._flush_unsent()  # else the next turn sends it with its own replies
        if self.state.closing:
            self._queue.clear()
            self._input.clear()
            self._close_when_flushed()
            return
        self._go_on()

    def _take(self, data: bytes) -> None:
        """Queue ``data`` for :meth:`_pump`; stop reading while the queue is long."""
        self._input.add(data)
        if self._waiting is None and self._scheduled is None and not self.output.blocked:
            self._pump()
        elif self._input.size > _INPUT_LIMIT:
            self._pause_reading()

    def _pump(self) -> None:
        """One turn's work from the queues: up to ``_BUDGET`` requests, a few slices."""
        self._scheduled = None
        if self._shutting_down:
            self._answer_shutdown()
            return
        budget = _BUDGET
        while budget > 0 and self._waiting is None and self.transport is not None:
            if self.output.blocked or self.state.closing:
                self._flush_unsent()
                return
            if self._queue:
                requests = self._queue[:budget]
                del self._queue[:budget]
                budget -= len(requests)
                self._run(requests)
                continue
            if self.gated:
                requests = self.codec.feed_one(b"") if self._more else []
                if not requests and self._input:
                    requests = self.codec.feed_one(self._input.take(PRE_AUTH_LINE))
                self._more = bool(requests)
                if not requests:
                    break
                if requests[0][0] is CODEC_ERROR and requests[0][1] is LINE_TOO_LONG:
                    self.state.closing = True  # before auth, answer it and hang up
                budget -= 1
                self._count(1)
                self._run(requests)
                if self.state.table is not self.state.tables.auth:
                    self._ungate()
                continue
            if not self._input:
                break
            budget -= _BUDGET // 4  # parsing a slice costs about as much as running that many
            requests = self.codec.feed(self._input.take(_SLICE))
            if requests:
                self._count(len(requests))
                self._queue = requests
        if self._waiting is None:
            self._flush_unsent()
        self._go_on()

    def _count(self, requests: int) -> None:
        self.commands += requests
        self.counters.commands += requests

    def _ungate(self) -> None:
        """``auth`` succeeded: full limits, and what was buffered parsed with them."""
        self.gated = False
        self._direct = not self._shutting_down
        codec = self.codec
        if isinstance(codec, Sniffer | Refusal):  # pragma: no cover - chosen by then
            return
        raise_limits(codec, self.server.config)
        self._more = False
        requests = codec.resume()
        self._count(len(requests))
        self._queue.extend(requests)

    def _go_on(self) -> None:
        """After a turn, a reply or a drained buffer: another turn later, or read again."""
        if self.transport is None or self._waiting is not None:
            return
        if self._shutting_down:
            self._later()
        elif self._queue or self._input or self._more:
            if not self.output.blocked:
                self._later()
            self._pause_reading()
        elif self._eof:
            self._close_when_flushed()
        else:
            self._maybe_resume_reading()

    def _later(self) -> None:
        if self._scheduled is None and self.transport is not None:
            self._scheduled = self._loop.call_soon(self._pump)
            self._pause_reading()

    def _hold(self, data: bytes) -> None:
        """Keep ``data`` for the connection's next write (with no barrier to wait for)."""
        if self.state.barrier is None and not self.output.held:
            self._unsent.append(data)
        else:
            self._emit(data)

    def _flush_unsent(self) -> None:
        if self._unsent:
            self._emit(b"")

    def _emit(self, data: bytes) -> None:
        if self._unsent:
            data = b"".join([*self._unsent, data])
            self._unsent = []
        st = self.state
        barrier = st.barrier
        if barrier is not None:
            st.barrier = None
        self.output.write(data, barrier)

    def _drained(self, was_blocked: bool) -> None:
        """Held replies have gone out (see ``Output``)."""
        if self._waiting is not None:
            return
        if self._shutting_down:
            self._answer_shutdown()
        elif self.state.closing or (self._eof and not self._queue and not self._input):
            self._close_when_flushed()
        elif was_blocked and not self.output.blocked:
            self._go_on()

    def _close_when_flushed(self) -> None:
        self._flush_unsent()
        if self.output.held:
            return  # _drained closes once the held replies are out
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
            and not self.output.blocked
            and self._waiting is None
            and self.transport is not None
        ):
            self._read_paused = False
            self.transport.resume_reading()

    @property
    def busy(self) -> bool:
        """Whether a command is in flight or replies are held back."""
        return self._waiting is not None or bool(self.output.held or self._unsent)

    def close_idle(self) -> None:
        """The idle sweep: close a connection that has nothing in flight."""
        if not self.busy:
            self._close_when_flushed()

    def shutdown(self) -> None:
        """The daemon stops: answer every request read and every one waiting in the socket
        (the one in flight with its reply, the others with ``err Server is shutting down.``),
        then close: closing with unread bytes would reset the connection, and the client
        would lose the replies just sent."""
        self._shutting_down = True
        self._direct = False
        if self._waiting is None:
            self._answer_shutdown()

    def _answer_shutdown(self) -> None:
        self._scheduled = None
        transport = self.transport
        if transport is None or self._waiting is not None:
            return
        if isinstance(self.codec, Sniffer) and self._input:
            self.use_framing(self._input.first_byte())
        requests = self._queue + parse_all(self.codec, self._input)
        self._queue = []
        if requests:
            refusal = self.encode(SHUTTING_DOWN)
            out = []
            for parts in requests:
                if parts[0] is PROTOCOL_ERROR:  # the stream is lost: the error, then nothing
                    out.append(self.encode(parts[1]))
                    break
                out.append(refusal)
            self._emit(b"".join(out))
        if unread(transport):  # read it and answer it too
            if self._read_paused:
                self._read_paused = False
                transport.resume_reading()
            return
        self._close_when_flushed()

    def abort(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
        if self.transport is not None:
            self.transport.abort()
