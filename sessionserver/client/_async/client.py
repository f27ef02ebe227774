"""``AsyncSessionClient``: every protocol command, over a pool of RESP2 connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from ...exceptions import ConnectionLost, KeyNotFound, ProtocolError, SessionNotFound
from .._codec import encode, flatten, info, keys_of, pairs, raise_for, strs, to_bytes
from .._config import DEFAULT_URL, ClientConfig
from .pool import AsyncConnectionPool
from .session import AsyncSessionHandle

__all__ = ["AsyncSessionClient"]

Value = bytes | str | int


class AsyncSessionClient:
    """A client of the session daemon, for asyncio code.

    One instance per application (per event loop): it owns a pool of connections, opened
    as needed.  Methods map one to one to protocol commands; ``session()`` opens a session for
    several commands on one connection.  Values come back as bytes and may be given as bytes
    or str; keys are str.

    Example::

        async with AsyncSessionClient("sessionserver://127.0.0.1:9090") as client:
            sid = await client.create({"user": "42"})
            data = await client.read(sid)                  # one round trip
            await client.write(sid, {"cart": "3"}, removed=["flash"])   # one round trip
            async with client.session(sid) as s:           # open w ... close
                await s.put("seen", "yes")

    Args:
        url: ``sessionserver://[:token@]host:port[,host:port...][?options]``.
        **options: ``max_connections``, ``connect_timeout``, ``timeout``, ``pool_timeout``
            (see :class:`ClientConfig`).
    """

    def __init__(self, url: str = DEFAULT_URL, **options: Any) -> None:
        self.config = ClientConfig.from_url(url, **options)
        self.pool = AsyncConnectionPool(self.config)

    def __repr__(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.config.hosts)
        return f"<{type(self).__name__} {hosts} {self.pool!r}>"

    async def __aenter__(self) -> AsyncSessionClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection (the client reconnects if used again)."""
        await self.pool.aclose()

    async def _execute(self, payload: bytes, count: int, *, retry: bool) -> list[Any]:
        """Run requests on a pooled connection.  When ``retry`` (the requests are idempotent),
        a connection that breaks is replaced and the requests sent again, once per host (each
        failure moves on to the next host), so a daemon that dies is invisible to reads."""
        pool = self.pool
        attempts = len(self.config.hosts) + 1 if retry else 1
        for attempt in range(1, attempts + 1):
            conn = await pool.acquire()
            try:
                return await conn.request(payload, count)
            except (ConnectionLost, ProtocolError):
                pool.forget_host(conn)
                if attempt == attempts:
                    raise
            finally:
                pool.release(conn)
        raise AssertionError("unreachable")

    async def _one(self, payload: bytes, *, retry: bool = True) -> Any:
        return raise_for((await self._execute(payload, 1, retry=retry))[0])

    # -- one command per request phase ---------------------------------------------------------

    async def read(self, sid: str) -> dict[str, bytes]:
        """The whole session (``read``: open r + get_all + close, one round trip).

        Raises:
            SessionNotFound: unknown, expired or destroyed.
        """
        return pairs(await self._one(encode(b"read", sid)))

    async def read_with_ttl(self, sid: str) -> tuple[int, dict[str, bytes]]:
        """:meth:`read`, and the seconds the session has left after it (``read <id>
        withttl``, the same round trip): its idle lifetime, unless an absolute one ends sooner.

        Raises:
            SessionNotFound: unknown, expired or destroyed.
        """
        reply = await self._one(encode(b"read", sid, b"withttl"))
        if not isinstance(reply, list) or not reply or not isinstance(reply[0], int):
            raise ProtocolError(f"expected [seconds, k1, v1, ...], got {reply!r:.80}")
        return reply[0], pairs(reply[1:])

    async def write(
        self,
        sid: str,
        changes: Mapping[str, Value] | None = None,
        removed: Iterable[str] = (),
        *,
        ttl: int | None = None,
    ) -> None:
        """Set ``changes`` and remove ``removed`` atomically (``write``, one command);
        ``ttl`` also gives the session its own idle lifetime (in the same command).

        Raises:
            SessionNotFound: the session is gone; nothing is brought back.
            SessionLocked: its write lock stayed taken past the server's lock timeout.
            PayloadTooLarge, InvalidRequest: a limit or a key; nothing is changed.
        """
        await self._one(_write(sid, changes, removed, ttl, ()))

    async def write_with_ttl(
        self,
        sid: str,
        changes: Mapping[str, Value] | None = None,
        removed: Iterable[str] = (),
        *,
        ttl: int | None = None,
    ) -> int:
        """:meth:`write`, and the seconds the session has left after it (``withttl``, the
        same command).

        Raises:
            As :meth:`write`.
        """
        seconds = await self._one(_write(sid, changes, removed, ttl, (b"withttl",)))
        if not isinstance(seconds, int):
            raise ProtocolError(f"expected the seconds left, got {seconds!r:.80}")
        return seconds

    async def create(
        self, data: Mapping[str, Value] | None = None, *, ttl: int | None = None
    ) -> str:
        """A new session holding ``data`` (with its own idle lifetime ``ttl``); its id.

        Raises:
            PayloadTooLarge, InvalidRequest: a limit or a key.
        """
        lifetime = () if ttl is None else (ttl,)
        reply = await self._one(encode(b"create", *lifetime, *flatten(data or {})), retry=False)
        return str(reply.decode())

    async def regenerate(
        self,
        sid: str,
        changes: Mapping[str, Value] | None = None,
        removed: Iterable[str] = (),
        *,
        ttl: int | None = None,
    ) -> str:
        """Move the session to a fresh id (the old one is gone at once), applying changes;
        the new id.  One round trip.

        Raises:
            SessionNotFound: the session is gone.
        """
        payload = encode(b"open", sid, b"w") + encode(b"regenerate_id")
        count = 2
        for key, value in (changes or {}).items():
            payload += encode(b"put", key, to_bytes(value))
            count += 1
        for key in removed:
            payload += encode(b"remove", key)
            count += 1
        if ttl is not None:
            payload += encode(b"ttl", ttl)
            count += 1
        replies = await self._execute(payload + encode(b"close"), count + 1, retry=False)
        raise_for(replies[0])
        new = str(raise_for(replies[1]).decode())
        for reply in replies[2:]:
            raise_for(reply, allow=KeyNotFound)  # removing a key that is not there is fine
        return new

    async def destroy(self, sid: str) -> None:
        """Delete the session (no error if it is already gone).

        Raises:
            StorageUnavailable: the server could not delete it now.
        """
        replies = await self._execute(
            encode(b"open", sid, b"r") + encode(b"destroy"), 2, retry=True
        )
        try:
            raise_for(replies[0])
        except SessionNotFound:
            return  # already gone: as good as destroyed
        raise_for(replies[1])

    async def touch(self, sid: str, ttl: int | None = None) -> None:
        """Count as an access (sliding expiry) without rewriting the data; ``ttl`` also sets
        the session's own idle lifetime.

        Raises:
            SessionNotFound: unknown, expired or destroyed.
        """
        payload = encode(b"open", sid, b"r")
        count = 2
        if ttl is not None:
            payload += encode(b"ttl", ttl)
            count = 3
        replies = await self._execute(payload + encode(b"close"), count, retry=True)
        for reply in replies:
            raise_for(reply)

    # -- administration -------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True if the server answers (any RESP server does: :meth:`hello` says which)."""
        return bool(await self._one(encode(b"ping")) == b"PONG")

    async def hello(self) -> dict[str, str]:
        """What the server says it is (``HELLO``): ``server`` (``sessionserver``),
        ``version``, ``proto``...

        Raises:
            ServerError: the server does not know ``HELLO`` (an old Redis, say).
            ProtocolError: the reply is not a list of names and values.
        """
        return info(await self._one(encode(b"hello")))

    async def peek(self, sid: str) -> dict[str, bytes]:
        """The whole session, not counted as an access."""
        return pairs(await self._one(encode(b"peek", sid)))

    async def expires(self, sid: str) -> int:
        """Seconds until the session expires, not counted as an access."""
        return int(await self._one(encode(b"expires", sid)))

    async def sessions(self, cursor: int = 0, count: int = 100) -> tuple[int, list[str]]:
        """A page of live session ids and the cursor of the next page (0: the last)."""
        reply = strs(await self._one(encode(b"sessions", cursor, count)))
        return int(reply[0]), reply[1:]

    async def iter_sessions(self, page: int = 100) -> AsyncIterator[str]:
        """Every live session id (ids created or removed meanwhile may be missed or repeated)."""
        cursor = 0
        while True:
            cursor, ids = await self.sessions(cursor, page)
            for sid in ids:
                yield sid
            if cursor == 0:
                return

    async def user_sessions(self, user: str | int) -> list[str]:
        """The ids of the sessions whose user key (``--user-keys`` on the server, by default
        ``_user_id`` and ``_auth_user_id``) names ``user``."""
        return strs(await self._one(encode(b"user_sessions", to_bytes(user))))

    async def destroy_user(self, user: str | int, keep: str | None = None) -> int:
        """Log ``user`` out everywhere: destroy all their sessions except ``keep``; how many.

        Raises:
            StorageUnavailable: the server could not delete them now.
        """
        args = [b"destroy_user", to_bytes(user)] + ([keep.encode()] if keep else [])
        return int(await self._one(encode(*args), retry=False))

    async def gc(self, idle: int) -> int:
        """Delete sessions idle longer than ``idle`` seconds; how many."""
        return int(await self._one(encode(b"gc", idle), retry=False))

    async def stats(self) -> dict[str, str]:
        """The server's counters."""
        reply = await self._one(encode(b"stats"))
        return dict(item.split("=", 1) for item in reply.decode().split())

    async def execute(self, command: str, *args: Value) -> Any:
        """Any command on a pooled connection, its reply as the wire gives it.

        Raises:
            ServerError: the error reply, as its exception class.
        """
        return await self._one(encode(command, *map(to_bytes, args)), retry=False)

    async def pipeline(
        self, commands: Sequence[Sequence[Value]], *, raise_on_error: bool = True
    ) -> list[Any]:
        """Several commands in one round trip, on one connection, in order.

        With ``raise_on_error=False`` an error reply is returned in its place as the
        exception instance instead of raising the first one.
        """
        payload = b"".join(encode(*map(to_bytes, command)) for command in commands)
        replies = await self._execute(payload, len(commands), retry=False)
        out: list[Any] = []
        for reply in replies:
            try:
                out.append(raise_for(reply))
            except Exception as exc:
                if raise_on_error:
                    raise
                out.append(exc)
        return out

    def session(
        self, id: str | None = None, mode: Literal["r", "w", "rw"] = "w"
    ) -> AsyncSessionHandle:
        """Open a session for several commands on one connection.

        ``id=None`` creates one (``new``).  On a normal exit the session is closed (changes
        saved, lock released); when the block raises, it is aborted (changes dropped) and the
        connection still goes back to the pool.
        """
        return AsyncSessionHandle(self.pool, id, mode)


def _write(
    sid: str,
    changes: Mapping[str, Value] | None,
    removed: Iterable[str],
    ttl: int | None,
    flags: tuple[bytes, ...],
) -> bytes:
    changes = changes or {}
    lifetime = () if ttl is None else (b"ttl", ttl)
    return encode(
        b"write", sid, *lifetime, *flags, len(changes), *flatten(changes), *keys_of(removed)
    )
