"""Who may connect: connection limits, protected mode and the file-descriptor limit.

Decided once per connection, when it arrives (:meth:`Admission.admit`); a refused connection
is told why in its own framing (see ``connection._Refusal``) and closed, never dropped
without a word.  Connections past the file-descriptor limit would be (the kernel keeps them
waiting, or the event loop accepts and closes them), so :func:`raise_fd_limit` raises the
soft limit to the hard one at start and lowers ``--max-connections`` to what fits under it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import resource
from typing import TYPE_CHECKING, Any

from ..protocol.replies import PROTECTED_MODE, TOO_MANY_CONNECTIONS, TOO_MANY_FROM_ADDRESS, Err
from .config import ServerConfig

if TYPE_CHECKING:
    from .connection import ServerConnection

__all__ = ["Admission", "Refusal", "is_loopback", "raise_fd_limit"]

logger = logging.getLogger(__name__)

#: File descriptors kept beside the connections: the listener, the storage's files or
#: sockets, the log, and refused connections waiting to be told why.
FD_RESERVE = 64
#: Refused connections that may wait for their first bytes at once (within FD_RESERVE).
MAX_REFUSING = 32
#: Seconds a refused connection has to send its first bytes (which tell the framing of the
#: refusal) before it is told in the text framing.
REFUSAL_WAIT = 1.0


@functools.lru_cache(maxsize=4096)
def is_loopback(host: str) -> bool:
    """Whether ``host`` (a peer's address) is this machine's own."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == ""  # not an IP socket (a Unix socket is local)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class Admission:
    """The connection limits of one daemon, and who is connected from where."""

    def __init__(self, config: ServerConfig) -> None:
        self.protected = config.protected_mode and config.auth_token is None
        self.max_connections = config.max_connections
        self.per_address = config.max_connections_per_address
        self.by_address: dict[str, int] = {}
        #: Refused connections still waiting for their first bytes.
        self.refusing = 0
        self.max_refusing = MAX_REFUSING

    def admit(self, host: str, connections: int) -> Err | None:
        """None if a connection from ``host`` may come in (and count it), else the refusal."""
        if self.protected and not is_loopback(host):
            logger.warning(
                "refused a connection from %s: protected mode (no --auth-token set)", host
            )
            return PROTECTED_MODE
        if connections >= self.max_connections:
            logger.warning(
                "connection limit reached (%d, --max-connections): refusing connections",
                self.max_connections,
            )
            return TOO_MANY_CONNECTIONS
        count = self.by_address.get(host, 0)
        if count >= self.per_address:
            logger.warning(
                "%s has %d connections (--max-connections-per-address): refusing more",
                host,
                count,
            )
            return TOO_MANY_FROM_ADDRESS
        self.by_address[host] = count + 1
        return None

    def release(self, host: str) -> None:
        """A connection that :meth:`admit` counted has closed."""
        count = self.by_address.get(host, 0) - 1
        if count > 0:
            self.by_address[host] = count
        else:
            self.by_address.pop(host, None)


def raise_fd_limit(max_connections: int) -> int:
    """Raise this process's file-descriptor limit to its hard limit (logged); return how many
    connections fit under it, ``max_connections`` or fewer (a warning says so)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logger.warning("cannot raise the file descriptor limit from %d: %s", soft, exc)
        else:
            logger.info("file descriptor limit raised from %d to %d", soft, target)
            soft = target
    room = soft - FD_RESERVE
    if max_connections > room:
        room = max(room, 1)
        logger.warning(
            "--max-connections lowered from %d to %d: the file descriptor limit is %d "
            "(raise the hard limit, e.g. ulimit -Hn or systemd's LimitNOFILE=, to allow more)",
            max_connections,
            room,
            soft,
        )
        return room
    return max_connections


class Refusal:
    """The codec of a connection refused on arrival (a limit, protected mode): its first bytes
    tell the framing of the ``err`` it gets before it is closed."""

    __slots__ = ("_conn", "_err", "_timer")

    def __init__(self, conn: ServerConnection, err: Err) -> None:
        self._conn = conn
        self._err = err
        loop = asyncio.get_running_loop()
        admission = conn.server.admission
        if admission.refusing >= admission.max_refusing:
            # Too many refused connections yet to speak: tell this one at once.
            self._timer: asyncio.TimerHandle | None = None
            self._answer(text=True)
            return
        admission.refusing += 1
        self._timer = loop.call_later(REFUSAL_WAIT, self._answer, True)

    def feed(self, data: bytes) -> list[list[Any]]:
        self._answer(text=data[:1] != b"*")
        return []

    feed_one = feed

    def _answer(self, text: bool) -> None:
        transport = self._conn.transport
        if transport is None or transport.is_closing():
            return
        transport.write(self._err.text if text else self._err.resp)
        transport.close()

    def done(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._conn.server.admission.refusing -= 1
