"""A bounded pool of connections, with failover, health checks and fork/loop safety.

- Bounded: at most ``max_connections`` at once; a borrower waits up to ``pool_timeout`` for a
  free one, then gets :class:`PoolTimeout`.
- Health check at checkout: an idle connection with bytes or an end of stream waiting (the
  daemon restarted, or a reply was left over) is closed and replaced, so a daemon restart is
  transparent to the next request.
- A connection goes back only when its last exchange finished (see ``AsyncConnection``).
- Failover: hosts are tried in order from the one that last answered.  A connection lost in
  use takes the idle connections to the same daemon with it (they are most likely dead too)
  and moves the preference to the next host, so the retry of an idempotent request connects
  afresh to the next host.
- Fork and loop safety: a pool used from a new process (gunicorn's pre-fork workers) or, for
  the async pool, from a new event loop (asyncio's or trio's) drops the connections of the old
  one and starts afresh.  Connections own plain sockets, so they close from anywhere: a client
  dropped without ``aclose()`` leaves no open socket and no ``ResourceWarning`` behind.
"""

from __future__ import annotations

from ...exceptions import ConnectError, PoolTimeout, TLSError, TransportError
from .._backends import async_connect
from .._codec import encode, raise_for
from .._config import ClientConfig
from .._primitives import AsyncSemaphore, AsyncThreadLock, async_context
from .connection import AsyncConnection

__all__ = ["AsyncConnectionPool"]


class AsyncConnectionPool:
    """Connections to the daemon, shared by the calls of one client."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._lock = AsyncThreadLock()
        self._idle: list[AsyncConnection] = []
        self._busy: set[AsyncConnection] = set()
        self._waiting = 0
        self._preferred = 0
        self._generation = 0
        self._context: tuple[int, object] | None = None
        self._slots = AsyncSemaphore(config.max_connections)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} idle={len(self._idle)} busy={len(self._busy)}"
            f" waiting={self._waiting} max={self.config.max_connections}>"
        )

    def _check_context(self) -> None:
        context = async_context()
        if context != self._context:
            with self._lock:
                if self._context is not None:
                    for conn in [*self._idle, *self._busy]:
                        conn.close()
                    self._idle.clear()
                    self._busy.clear()
                self._slots = AsyncSemaphore(self.config.max_connections)
                self._context = context

    async def acquire(self) -> AsyncConnection:
        """A healthy connection, new or pooled.

        Raises:
            PoolTimeout: none became free within ``pool_timeout``.
            ConnectError, ConnectTimeout: no host could be reached.
            AuthenticationError: the server refused the token.
        """
        self._check_context()
        slots = self._slots
        with self._lock:
            self._waiting += 1
        try:
            got = await slots.acquire(self.config.pool_timeout)
        finally:
            with self._lock:
                self._waiting -= 1
        if not got:
            raise PoolTimeout(
                f"no free connection within {self.config.pool_timeout:g} s "
                f"(max_connections={self.config.max_connections})"
            )
        try:
            while True:
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
                if conn is None:
                    conn = await self._connect()
                    break
                if not conn.stream.pending():
                    break
                conn.close()  # stale: the daemon went away, or a stray reply
            with self._lock:
                self._busy.add(conn)
            return conn
        except BaseException:
            slots.release()
            raise

    def release(self, conn: AsyncConnection) -> None:
        """Give a connection back; it is closed instead if its exchange did not finish."""
        with self._lock:
            owned = conn in self._busy
            self._busy.discard(conn)
            keep = owned and conn.reusable and conn.generation == self._generation
            if keep:
                self._idle.append(conn)
        if not keep:
            conn.close()
        if owned:
            self._slots.release()

    async def _connect(self) -> AsyncConnection:
        config = self.config
        hosts = config.hosts
        errors: list[str] = []
        first = self._preferred  # other threads may move it meanwhile
        for i in range(len(hosts)):
            index = (first + i) % len(hosts)
            host, port = hosts[index]
            try:
                stream = await async_connect(
                    host,
                    port,
                    connect_timeout=config.connect_timeout,
                    read_timeout=config.timeout,
                    tls=config.tls,
                )
            except TLSError:
                raise  # a certificate to fix, not a host that is down
            except TransportError as exc:
                errors.append(str(exc))
                continue
            conn = AsyncConnection(stream, config.timeout, self._generation)
            if config.token is not None:
                try:
                    reply = (await conn.request(encode(b"auth", config.token.reveal()), 1))[0]
                except TLSError:
                    conn.close()
                    raise
                except TransportError as exc:
                    errors.append(str(exc))
                    conn.close()
                    continue
                except BaseException:
                    conn.close()
                    raise
                try:
                    raise_for(reply)
                except BaseException:
                    conn.close()
                    raise
            self._preferred = index
            return conn
        raise ConnectError("no session server answered: " + "; ".join(errors))

    def forget_host(self, conn: AsyncConnection) -> None:
        """``conn`` was lost: close the idle connections to the same daemon, and connect to
        the next host first from now on (a dying daemon's kernel may still accept a few
        connections before it resets them)."""
        address = conn.stream.address
        hosts = self.config.hosts
        with self._lock:
            if f"{hosts[self._preferred][0]}:{hosts[self._preferred][1]}" == address:
                self._preferred = (self._preferred + 1) % len(hosts)
            stale = [c for c in self._idle if c.stream.address == address]
            self._idle = [c for c in self._idle if c.stream.address != address]
        for c in stale:
            c.close()

    async def aclose(self) -> None:
        """Close every connection.  The pool stays usable (it connects again when needed),
        so a client can be closed at the end of each event loop it is used from."""
        with self._lock:
            self._generation += 1  # connections out on loan are closed when they come back
            conns = list(self._idle)
            self._idle.clear()
        for conn in conns:
            conn.close()
