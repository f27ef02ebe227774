"""The network under the clients: one stream class per flavour, with the same interface.

``read()`` returns what has arrived (``b""`` at end of stream), ``write()`` sends everything,
``pending()`` tells a health check whether bytes or an end of stream are waiting on an idle
connection (a stale pooled connection: the daemon restarted, or a reply nobody read), and
``close()`` closes at once.  Socket and TLS errors and timeouts leave here as the exceptions of
``sessionserver.exceptions``, never as ``OSError``.  ``TCP_NODELAY`` is set: request/reply
traffic must not wait for Nagle.

Both flavours own a plain ``socket.socket`` (an ``ssl.SSLSocket`` over TLS).  The async one is
non-blocking and waits through anyio (see ``_readiness``), so one piece of code runs on asyncio
(uvloop included) and on trio.  An asyncio transport or a trio stream was the alternative;
neither can be closed outside the event loop that made it, and a pool must close its sockets
from anywhere: another event loop, a forked child, the garbage collector.  Each socket is
closed by a ``weakref.finalize`` of its stream, which runs before the socket's own finalizer
even when the stream dies in a reference cycle, so an unclosed client never surfaces as
``ResourceWarning: unclosed socket``.

Receives go into one buffer per thread and are copied out at their size: ``recv(256 KiB)``
would allocate (``mmap``) and shrink a fresh 256 KiB object per reply, which costs more than
the rest of a small request's receive.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import select
import socket
import ssl
import struct
import threading
import weakref
from collections.abc import Callable
from typing import Any

import anyio

from ..exceptions import ConnectError, ConnectionLost, ConnectTimeout, ReadTimeout, TLSError
from ._readiness import readiness

__all__ = ["AsyncStream", "Stream", "async_connect", "sync_connect"]

_READ = 256 * 1024
#: What a non-blocking socket raises when it must wait (over TLS: for either direction).
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = (62, 64)

_local = threading.local()


def _recv(sock: socket.socket) -> bytes:
    try:
        view: memoryview = _local.view
    except AttributeError:
        view = _local.view = memoryview(bytearray(_READ))
    return bytes(view[: sock.recv_into(view)])


class _Socket:
    """What both streams share: the socket, its address, its closing and its health check."""

    __slots__ = ("__weakref__", "_close", "_sock", "address")

    def __init__(
        self, sock: socket.socket, address: str, close: Callable[[], None] | None = None
    ) -> None:
        self._sock = sock
        self.address = address
        # The callback must not refer to self, or the stream would never be collected.
        self._close = weakref.finalize(self, close or sock.close)

    def eof(self) -> ConnectionLost:
        """The error for an end of stream in the middle of an exchange."""
        if isinstance(self._sock, ssl.SSLSocket):
            # TLS 1.3 servers check the client's certificate after the handshake, and
            # asyncio's drop the connection without sending their alert.
            return ConnectionLost(
                f"{self.address} closed the TLS connection (a server that requires a client "
                "certificate does so without one: ?cert=FILE&key=FILE)"
            )
        return ConnectionLost(f"{self.address} closed the connection")

    def pending(self) -> bool:
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        """Close now (idempotent); safe from any thread, event loop or process."""
        self._close()


class AsyncStream(_Socket):
    """A non-blocking socket, waited on in the event loop that connected it."""

    __slots__ = ("_wait",)

    def __init__(self, sock: socket.socket, address: str) -> None:
        self._wait = wait = readiness(sock)
        super().__init__(sock, address, functools.partial(wait.release, sock.close))

    def deadline(self, seconds: float) -> contextlib.AbstractContextManager[object]:
        """A scope whose reads and writes raise ``TimeoutError`` after ``seconds``."""
        return self._wait.deadline(seconds)

    def pending(self) -> bool:
        if self._wait.quiet() and not isinstance(self._sock, ssl.SSLSocket):
            return False  # the loop watches it and saw nothing arrive: no select() to ask
        return super().pending()

    async def read(self) -> bytes:
        sock = self._sock
        wait = self._wait
        if not isinstance(sock, ssl.SSLSocket):
            # Read after a write: the reply is not there yet, so a recv would only say so.
            await wait.readable()
        while True:
            try:
                return _recv(sock)
            except ssl.SSLWantWriteError:
                await wait.writable()
            except _WOULD_BLOCK:
                await wait.readable()
            except OSError as exc:
                raise _lost(exc, self.address) from None

    async def write(self, data: bytes) -> None:
        sock = self._sock
        wait = self._wait
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view) :]
            except ssl.SSLWantReadError:
                await wait.readable()
            except _WOULD_BLOCK:
                await wait.writable()
            except OSError as exc:
                raise _lost(exc, self.address) from None


class Stream(_Socket):
    """A blocking socket with a timeout on every send and receive."""

    __slots__ = ()

    def deadline(self, seconds: float) -> contextlib.AbstractContextManager[object]:
        """Nothing to do: the socket's timeout bounds every receive."""
        return contextlib.nullcontext()

    def read(self) -> bytes:
        try:
            return _recv(self._sock)
        except (TimeoutError, BlockingIOError):  # a Python timeout (TLS), or the kernel's
            raise ReadTimeout(f"no reply from {self.address} in time") from None
        except OSError as exc:
            raise _lost(exc, self.address) from None

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except (TimeoutError, BlockingIOError):
            raise ReadTimeout(f"cannot send to {self.address} in time") from None
        except OSError as exc:
            raise _lost(exc, self.address) from None


async def async_connect(
    host: str, port: int, *, connect_timeout: float, read_timeout: float, tls: ssl.SSLContext | None
) -> AsyncStream:
    """Connect (and shake hands over TLS) within ``connect_timeout``; ``read_timeout`` is
    the deadline of each request, which the connection applies itself.

    Raises:
        ConnectTimeout, ConnectError, TLSError.
    """
    address = f"{host}:{port}"
    sock: socket.socket | None = None
    try:
        with anyio.fail_after(connect_timeout):
            sock = await _open(host, port)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
                await _handshake(sock)
    except BaseException as exc:
        if sock is not None:
            sock.close()
        if isinstance(exc, OSError):
            raise _connect_error(exc, address, connect_timeout) from None
        raise
    return AsyncStream(sock, address)


async def _open(host: str, port: int) -> socket.socket:
    try:  # an address needs no resolver, and anyio's would take a worker thread
        infos: list[tuple[Any, ...]] = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
        )
    except socket.gaierror:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(errno.EADDRNOTAVAIL, f"no address for {host}")
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.connect(addr)
            except BlockingIOError:
                await anyio.wait_writable(sock)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code)) from None
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error


async def _handshake(sock: ssl.SSLSocket) -> None:
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            await anyio.wait_readable(sock)
        except ssl.SSLWantWriteError:
            await anyio.wait_writable(sock)


def sync_connect(
    host: str, port: int, *, connect_timeout: float, read_timeout: float, tls: ssl.SSLContext | None
) -> Stream:
    """Connect (and shake hands over TLS) within ``connect_timeout``; then every receive
    waits up to ``read_timeout``.

    Raises:
        ConnectTimeout, ConnectError, TLSError.
    """
    address = f"{host}:{port}"
    sock: socket.socket | None = None
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is None and type(sock).__module__ == "socket":
            _kernel_timeouts(sock, read_timeout)
        else:  # TLS, or a green socket (gevent, eventlet) that waits in its own loop
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            sock.settimeout(read_timeout)
    except BaseException as exc:
        if sock is not None:
            sock.close()
        if isinstance(exc, OSError):
            raise _connect_error(exc, address, connect_timeout) from None
        raise
    return Stream(sock, address)


def _kernel_timeouts(sock: socket.socket, seconds: float) -> None:
    """Bound each send and receive by the kernel (``SO_SNDTIMEO``, ``SO_RCVTIMEO``) on a
    blocking socket, which then raises ``BlockingIOError`` when one waits too long.  A Python
    timeout (``settimeout``) would poll() before every send and every receive: two system
    calls more per request, each letting go of the GIL, which threaded servers (gunicorn's
    gthread workers) pay again in GIL hand-overs."""
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def _connect_error(
    exc: OSError, address: str, connect_timeout: float
) -> ConnectError | ConnectTimeout:
    """A failed connect or handshake, said so that the operator knows what to fix."""
    if isinstance(exc, TimeoutError):  # the socket's timeout, or the async deadline's
        return ConnectTimeout(f"connecting to {address} took longer than {connect_timeout:g} s")
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _NAME_MISMATCH:
            return TLSError(
                f"the TLS certificate of {address} is for another host: {exc.verify_message}"
            )
        return TLSError(
            f"the TLS certificate of {address} is not trusted: {exc.verify_message}"
            " (give the CA that signed it with ?ca=FILE)"
        )
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return ConnectError(f"{address} closed the connection during the TLS handshake")
    if isinstance(exc, ssl.SSLError):
        hint = " (is it a TLS server?)" if exc.reason == "WRONG_VERSION_NUMBER" else ""
        return TLSError(f"TLS handshake with {address} failed: {exc.reason or exc}{hint}")
    return ConnectError(f"cannot connect to {address}: {_why(exc)}")


def _lost(exc: OSError, address: str) -> ConnectionLost | TLSError:
    """A failed receive; over TLS, the server may be refusing this client's certificate
    (TLS 1.3 says so after the handshake, with the first reply)."""
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
        return TLSError(f"{address} refused the TLS connection: {exc.reason or exc}")
    return ConnectionLost(f"connection to {address} lost: {_why(exc)}")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
