"""A connection's replies on their way out: in order, behind durability barriers, bounded.

A reply to a write on a write-behind storage waits for the storage's durability barrier of
that write, and every reply after it waits behind it.  What waits here, plus what the
transport has not sent yet, is the connection's unsent output: past ``--output-high-water``
the connection stops running requests (:attr:`Output.blocked`), past ``--output-limit`` the
client is dropped (:meth:`Output.check`), which is Redis's client-output-buffer-limit with a
default that keeps one client's unsent replies to a few MB.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..storage.worker import Barrier

__all__ = ["Output"]

logger = logging.getLogger(__name__)


class Output:
    """The held replies of one connection and its output limits."""

    __slots__ = ("_drained", "_host", "held", "held_bytes", "high", "limit", "paused", "transport")

    def __init__(
        self,
        transport: asyncio.Transport,
        *,
        high: int,
        limit: int,
        host: str,
        drained: Callable[[bool], None],
    ) -> None:
        self.transport: asyncio.Transport | None = transport
        self.high = high
        self.limit = limit
        self._host = host
        #: Called when held replies have gone out: with whether output was blocked before.
        self._drained = drained
        #: Replies waiting for a durability barrier (or behind one that does), in order.
        self.held: list[tuple[bytes, Barrier | None]] = []
        self.held_bytes = 0
        #: The transport's buffer passed the high-water mark (its pause_writing).
        self.paused = False
        transport.set_write_buffer_limits(high=high, low=high // 4)

    @property
    def unsent(self) -> int:
        """Bytes of replies not sent yet: held, and in the transport's buffer."""
        transport = self.transport
        return self.held_bytes + (transport.get_write_buffer_size() if transport else 0)

    @property
    def blocked(self) -> bool:
        """Whether the connection should run no more requests until the client reads."""
        return self.paused or self.held_bytes > self.high

    def write(self, data: bytes, barrier: Barrier | None) -> None:
        """Send ``data`` once ``barrier`` (if any) has settled, after what is held."""
        if self.held:
            self.held.append((data, barrier))
            self.held_bytes += len(data)
            return
        if barrier is None or (barrier.done and barrier.error is None):
            if self.transport is not None:
                self.transport.write(data)
                if self.paused:
                    self.check()
            return
        self.held.append((data, barrier))
        self.held_bytes += len(data)
        self._drain()

    def check(self) -> None:
        """Drop a client that lets more than the output limit of replies pile up unread."""
        transport = self.transport
        if transport is None:
            return
        unsent = self.unsent
        if unsent > self.limit:
            logger.warning(
                "closing a connection from %s that does not read its replies "
                "(%d bytes unsent, --output-limit %d)",
                self._host or "a local socket",
                unsent,
                self.limit,
            )
            self.abort()

    def abort(self) -> None:
        transport = self.transport
        self.detach()
        if transport is not None:
            transport.abort()

    def detach(self) -> None:
        """The connection is gone: drop what is held."""
        self.held.clear()
        self.held_bytes = 0
        self.transport = None

    def _drain(self) -> None:
        held = self.held
        was_blocked = self.held_bytes > self.high
        while held and self.transport is not None:
            data, barrier = held[0]
            if barrier is not None:
                if not barrier.done:
                    barrier.add(self._drain)
                    return
                if barrier.error is not None:
                    # Never acknowledge what did not reach the disk.
                    logger.error("storage write failed; closing a connection without its ok")
                    self.abort()
                    return
            del held[0]
            self.held_bytes -= len(data)
            self.transport.write(data)
        if self.transport is None:
            return
        if self.paused:
            self.check()
        self._drained(was_blocked)
