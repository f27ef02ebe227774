"""The network under the clients: one stream class per flavour, with the same interface.

``read()`` returns what has arrived (``b""`` at end of stream), ``write()`` sends everything,
``pending()`` tells a health check whether bytes or an end of stream are waiting on an idle
connection (a stale pooled connection: the daemon restarted, or a reply nobody read).  Socket
errors and timeouts leave here as the exceptions of ``sessionserver.exceptions``, never as
``OSError``.  ``TCP_NODELAY`` is set: request/reply traffic must not wait for Nagle.
"""

from __future__ import annotations

import asyncio
import select
import socket
from typing import cast

from ..exceptions import ConnectError, ConnectionLost, ConnectTimeout, ReadTimeout

__all__ = ["AsyncStream", "Stream", "async_connect", "sync_connect"]

_READ = 256 * 1024


class _Protocol(asyncio.Protocol):
    __slots__ = ("chunks", "closed", "error", "lost", "transport", "waiter")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()
        if not self.lost.done():
            self.lost.set_result(None)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class AsyncStream:
    """An asyncio connection: a bare protocol, no StreamReader, one future per wait."""

    __slots__ = ("_protocol", "_transport", "address")

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol, address: str) -> None:
        self._transport = transport
        self._protocol = protocol
        self.address = address

    async def read(self) -> bytes:
        protocol = self._protocol
        while not protocol.chunks:
            if protocol.closed:
                return b""
            waiter = asyncio.get_running_loop().create_future()
            protocol.waiter = waiter
            try:
                await waiter
            finally:
                protocol.waiter = None
        chunks = protocol.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        return data

    async def write(self, data: bytes) -> None:
        if self._protocol.closed:
            raise ConnectionLost(f"connection to {self.address} is closed")
        self._transport.write(data)

    def pending(self) -> bool:
        return bool(self._protocol.chunks) or self._protocol.closed

    async def aclose(self) -> None:
        """Close and wait until the socket is really closed (an event loop that ends right
        after would otherwise never close it)."""
        self._transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._protocol.lost), 1.0)
        except TimeoutError:
            self._transport.abort()

    def abandon(self) -> None:
        """Drop the connection without waiting (its event loop may be gone)."""
        try:
            self._transport.abort()
        except RuntimeError:
            # The loop that owned the transport is closed, so it can no longer run the
            # callback that closes the socket.  asyncio's own transports have that callback
            # as a method; run it here, or the socket stays open until garbage collection.
            finish = getattr(self._transport, "_call_connection_lost", None)
            if finish is not None:
                finish(None)


async def async_connect(
    host: str, port: int, connect_timeout: float, read_timeout: float
) -> AsyncStream:
    """Connect; ``read_timeout`` is applied per request by the connection instead."""
    loop = asyncio.get_running_loop()
    address = f"{host}:{port}"
    try:
        async with asyncio.timeout(connect_timeout):
            transport, protocol = await loop.create_connection(_Protocol, host, port)
    except TimeoutError:
        raise ConnectTimeout(
            f"connecting to {address} took longer than {connect_timeout:g} s"
        ) from None
    except OSError as exc:
        raise ConnectError(f"cannot connect to {address}: {exc.strerror or exc}") from None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return AsyncStream(transport, protocol, address)


class Stream:
    """A blocking socket with a timeout on every receive."""

    __slots__ = ("_sock", "address")

    def __init__(self, sock: socket.socket, address: str) -> None:
        self._sock = sock
        self.address = address

    def read(self) -> bytes:
        try:
            return self._sock.recv(_READ)
        except TimeoutError:
            raise ReadTimeout(f"no reply from {self.address} in time") from None
        except OSError as exc:
            raise ConnectionLost(f"connection to {self.address} lost: {exc}") from None

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise ReadTimeout(f"cannot send to {self.address} in time") from None
        except OSError as exc:
            raise ConnectionLost(f"connection to {self.address} lost: {exc}") from None

    def pending(self) -> bool:
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def abandon(self) -> None:
        self.close()


def sync_connect(host: str, port: int, connect_timeout: float, read_timeout: float) -> Stream:
    address = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    except TimeoutError:
        raise ConnectTimeout(
            f"connecting to {address} took longer than {connect_timeout:g} s"
        ) from None
    except OSError as exc:
        raise ConnectError(f"cannot connect to {address}: {exc.strerror or exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(read_timeout)
    return Stream(sock, address)
