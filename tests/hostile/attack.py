"""What the attacks of this suite share: raw sockets, the daemon's own figures, waiting."""

from __future__ import annotations

import socket
from collections.abc import Callable

from ..helpers import Daemon, wait_until

__all__ = ["FIGURES", "raw", "rss", "stats", "until", "until_closed"]

#: Figures worth a line at the end of the run: (what, value).
FIGURES: list[tuple[str, str]] = []


def raw(daemon: Daemon, *, host: str | None = None, rcvbuf: int = 0) -> socket.socket:
    """A connected socket; a small ``rcvbuf`` keeps the kernel from reading for the client."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((host or daemon.host, daemon.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset ends it too)."""
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    sock.close()
    return bytes(received)


def stats(daemon: Daemon) -> dict[str, str]:
    with daemon.client() as c:
        reply = c.cmd("stats")
    assert reply.startswith("ok "), reply
    return dict(item.split("=", 1) for item in reply[3:].split())


def rss(daemon: Daemon) -> int:
    """The daemon's resident memory, from /proc."""
    with open(f"/proc/{daemon.pid}/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def until(condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
    """Wait for ``condition`` (the daemon's state, seen from outside) to hold."""
    wait_until(condition, timeout=timeout, what=what)
