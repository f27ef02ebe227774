"""The daemon's lifecycle: start storage, listen, serve until told to stop, drain, flush.

Shaped after hypercorn's ``worker_serve`` and uvicorn's ``Server``: :meth:`Server.serve` takes an
injectable shutdown trigger (tests pass their own; :func:`run` wires SIGTERM/SIGINT to it) and
sets :attr:`Server.started` once the listening address is known.  Shutdown stops accepting,
lets commands in flight finish (up to ``graceful_timeout``), closes idle connections itself
(since Python 3.12 ``wait_closed`` would otherwise wait for every pooled client), then flushes
and closes the storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..exceptions import StartupError
from ..storage import SharedStorage, Storage, StorageError, StorageOptions, open_storage
from . import ratelog
from .admission import Admission, is_loopback, raise_fd_limit
from .config import ServerConfig
from .connection import ServerConnection
from .eager import resolve
from .metrics import SAMPLE, CommandMetrics, instrument, instrument_storage
from .sessions.counters import Counters, rss_bytes
from .sessions.limits import Limits
from .sessions.manager import SessionManager
from .sessions.strategy import choose
from .tables import APP_TABLES, TABLES
from .tls import TLSConfigError, server_context
from .tls import describe as describe_tls

if TYPE_CHECKING:
    from .http import AdminListener

__all__ = ["Server", "StartupError", "run"]

logger = logging.getLogger("sessionserver")

#: Seconds between housekeeping passes (expiry, lock leases, idle connections).
TICK = 0.25


class Server:
    """One daemon: a listening socket, its connections, the manager and the storage."""

    def __init__(self, config: ServerConfig, storage: Storage | None = None) -> None:
        self.config = config
        if storage is None:
            storage = open_storage(
                config.storage_url,
                StorageOptions(
                    ttl=config.ttl,
                    max_lifetime=config.max_lifetime,
                    fsync=config.fsync,
                    user_keys=tuple(key.encode() for key in config.user_keys),
                ),
            )
        self.storage = storage
        self.counters = Counters()
        self.strategy = choose(
            storage, lock_timeout=config.lock_timeout, lock_lease=config.lock_lease
        )
        self.manager = SessionManager(
            self.strategy,
            limits=Limits(
                max_value=config.max_value,
                max_keys=config.max_keys,
                max_session=config.max_session,
            ),
            counters=self.counters,
            allow_client_ids=config.allow_client_ids,
            max_sessions=config.max_sessions,
        )
        #: Per-command latency and store-call latency, recorded only where someone looks:
        #: the admin listener's figures, or the access log at debug level.
        debug = config.log_level == "debug"
        self.metrics = CommandMetrics(sample=1 if debug else SAMPLE)
        #: The command tables of the admin role (every command) and of the app role.
        self.tables, self.app_tables = TABLES, APP_TABLES
        if config.admin_port is not None or debug:
            self.tables = instrument(TABLES, self.metrics, log=debug)
            self.app_tables = instrument(APP_TABLES, self.metrics, log=debug)
            instrument_storage(storage, self.metrics)
        self.admin: AdminListener | None = None
        #: The token every connection must send first, if any.
        self.token = config.auth_token.reveal().encode() if config.auth_token else None
        #: The admin role's token, if any (see ``compat.authenticate``).
        self.admin_token = config.admin_token.reveal().encode() if config.admin_token else None
        self.admission = Admission(config)
        self.connections: set[ServerConnection] = set()
        self.counters.live = lambda: self.connections
        self.address: tuple[str, int] | None = None
        self.started = asyncio.Event()
        self._drained: asyncio.Event | None = None

    def forget(self, conn: ServerConnection) -> None:
        """A connection closed."""
        self.connections.discard(conn)
        if not self.connections and self._drained is not None:
            self._drained.set()

    async def serve(self, shutdown_trigger: Callable[[], Awaitable[object]]) -> None:
        """Serve until ``shutdown_trigger()`` returns, then shut down gracefully.

        Raises:
            StartupError: the storage or the listening socket could not be set up.
        """
        loop = asyncio.get_running_loop()
        config = self.config
        try:
            tls = server_context(config)
        except TLSConfigError as exc:
            raise StartupError(str(exc)) from None
        try:
            await self.storage.start()
            await self.storage.replay()  # the user index learns the stored sessions
            if config.max_sessions is not None:
                await self._count_sessions(time.time())
        except (StorageError, OSError) as exc:
            raise StartupError(f"cannot open storage {self.storage.describe()}: {exc}") from None
        if config.admin_port is not None:
            await self._start_admin()
        self.admission.max_connections = raise_fd_limit(config.max_connections)
        try:
            listener = await loop.create_server(
                lambda: ServerConnection(self),
                config.host,
                config.port,
                backlog=1024,
                ssl=tls,
                # A client that never finishes its handshake must not hold a slot for long.
                ssl_handshake_timeout=10.0 if tls else None,
            )
        except OSError as exc:
            if self.admin is not None:
                await self.admin.stop()
            await self.storage.stop()
            reason = exc.strerror or str(exc)
            raise StartupError(f"cannot listen on {config.host}:{config.port}: {reason}") from None
        # Everything loaded so far (the sessions of a persistent store above all) lives as long
        # as the daemon: keep it out of every future garbage collection pass.
        gc.freeze()
        sockname = listener.sockets[0].getsockname()
        self.address = (sockname[0], sockname[1])
        self.counters.rss_at_start = rss_bytes()
        logger.info(
            "sessionserver listening on %s:%d (%s), storage %s (ttl %ds, fsync %s)",
            self.address[0],
            self.address[1],
            describe_tls(config),
            self.storage.describe(),
            config.ttl,
            config.fsync,
        )
        if self.admin is not None and self.admin.address is not None:
            logger.info(
                "admin listening on http://%s:%d (/metrics, /healthz, /readyz, dashboard at /)",
                *self.admin.address,
            )
        self._warn_if_exposed(listener)
        housekeeping = loop.create_task(self._housekeeping())
        self.started.set()
        try:
            await shutdown_trigger()
        finally:
            await self._shutdown(listener, housekeeping)

    async def _start_admin(self) -> None:
        from .http import AdminListener  # aiohttp and prometheus_client: only when asked for

        config = self.config
        self.admin = AdminListener(self)
        try:
            await self.admin.start()
        except OSError as exc:
            self.admin = None
            await self.storage.stop()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            where = f"{config.admin_host}:{config.admin_port}"
            raise StartupError(f"cannot listen on {where} (--admin-port): {reason}") from None

    def _warn_if_exposed(self, listener: asyncio.Server) -> None:
        config = self.config
        exposed = [
            f"{sock.getsockname()[0]}:{sock.getsockname()[1]}"
            for sock in listener.sockets
            if not is_loopback(sock.getsockname()[0])
        ]
        if not exposed or config.auth_token is not None:
            return
        where = ", ".join(exposed)
        if config.protected_mode:
            logger.warning(
                "listening on %s without --auth-token: protected mode refuses connections "
                "from other hosts; set --auth-token (SESSIONSERVER_AUTH_TOKEN) to serve them",
                where,
            )
        else:
            logger.warning(
                "listening on %s without --auth-token and with protected mode off: anyone "
                "who can reach it can read and change every session",
                where,
            )

    async def _housekeeping(self) -> None:
        strategy = self.strategy
        idle_timeout = self.config.idle_timeout
        # --max-sessions: count the live sessions every tick, every 5 s on a shared store
        # (counting there scans the store; other daemons' sessions count too).
        count_every = (
            0
            if self.config.max_sessions is None
            else 20
            if isinstance(self.storage, SharedStorage)
            else 1
        )
        failing = False
        ticks = 0
        while True:
            await asyncio.sleep(TICK)
            now = time.time()
            ticks += 1
            try:
                await strategy.tick(now)
                if count_every and ticks % count_every == 0:
                    await self._count_sessions(now)
            except StorageError as exc:
                if not failing:  # once per outage, not four times a second
                    logger.error("expiry pass failed (storage unavailable?): %s", exc)
                failing = True
            except Exception:
                logger.exception("housekeeping failed")
            else:
                if failing:
                    logger.warning("expiry pass works again: the storage is back")
                failing = False
            if idle_timeout:
                self._close_idle(idle_timeout)
            ratelog.flush()

    async def _count_sessions(self, now: float) -> None:
        created = self.counters.sessions_created
        self.manager.cap.recount(await resolve(self.strategy.count(now)), created)

    def _close_idle(self, idle_timeout: float) -> None:
        # Connections count their commands instead of reading a clock per packet: a connection
        # whose count has not moved for idle_timeout seconds is idle.
        now = time.monotonic()
        for conn in list(self.connections):
            seen, since = conn.idle_mark
            if seen != conn.commands:
                conn.idle_mark = (conn.commands, now)
            elif now - since >= idle_timeout:
                conn.close_idle()

    async def _shutdown(self, listener: asyncio.Server, housekeeping: asyncio.Task[None]) -> None:
        logger.info("shutting down: %d connections", len(self.connections))
        if self.admin is not None:
            self.admin.draining = True  # /readyz: take this daemon out of the load balancer
        listener.close()
        for conn in list(self.connections):
            conn.shutdown()
        if self.connections:
            self._drained = asyncio.Event()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self.config.graceful_timeout)
        if self.connections:
            logger.warning("aborting %d connections still busy", len(self.connections))
            for conn in list(self.connections):
                conn.abort()
            await asyncio.sleep(0)
        housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await housekeeping
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(listener.wait_closed(), 1.0)
        if self.admin is not None:
            await self.admin.stop()
        await self.strategy.close()  # other daemons need not wait for lock leases to lapse
        await self.storage.stop()
        logger.info("stopped")


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise StartupError("--loop uvloop: uvloop is not installed") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(config: ServerConfig) -> int:
    """Run the daemon in this process until SIGTERM or SIGINT; return the exit status.

    A second SIGINT aborts the graceful drain.
    """
    # Sessions are secrets: whatever the daemon creates (the SQLite database, its WAL and
    # journals, session files, their folders) is for its own user only, 0600 and 0700.
    os.umask(0o077)
    server = Server(config)
    ratelog.install(logging.getLogger().handlers)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(signum: int) -> None:
            if stop.is_set() and signum == signal.SIGINT:
                logger.warning("second interrupt: aborting connections")
                for conn in list(server.connections):
                    conn.abort()
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        await server.serve(stop.wait)

    with asyncio.Runner(loop_factory=_loop_factory(config.loop)) as runner:
        runner.run(main())
    return 0
