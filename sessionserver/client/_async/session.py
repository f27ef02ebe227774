"""An open session: the session commands, bound to one pooled connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from ...exceptions import KeyNotFound, TransportError
from .._codec import encode, flatten, pairs, raise_for, strs, to_bytes
from .connection import AsyncConnection
from .pool import AsyncConnectionPool

__all__ = ["AsyncSessionHandle"]

Value = bytes | str | int


class AsyncSessionHandle:
    """What ``client.session()`` yields: ``open``/``new`` on entry, ``close`` on exit (or
    ``abort`` when the block raised).

    Attributes:
        id: the session id (set on entry; changed by :meth:`regenerate_id`).
        mode: ``"r"``, ``"w"`` or ``"rw"``.
    """

    def __init__(self, pool: AsyncConnectionPool, sid: str | None, mode: str) -> None:
        self._pool = pool
        self.id = sid or ""
        self.mode = mode
        self._new = sid is None
        self._conn: AsyncConnection | None = None
        self._open = False

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"<{type(self).__name__} {self.id[:8]}... mode={self.mode} {state}>"

    async def __aenter__(self) -> AsyncSessionHandle:
        self._conn = await self._pool.acquire()
        try:
            if self._new:
                self.id = (await self._call(b"new")).decode()
            else:
                await self._call(b"open", self.id, self.mode)
        except BaseException:
            self._pool.release(self._conn)
            self._conn = None
            raise
        self._open = True
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            if self._open:
                if t is None:
                    await self.close()
                else:
                    try:
                        await self.abort()
                    except TransportError:
                        pass  # the connection is broken; the pool will not take it back
        finally:
            self._conn = None
            self._pool.release(conn)

    async def _call(self, *args: Value) -> Any:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the session is not open: use it inside 'with client.session()'")
        reply = (await conn.request(encode(*map(to_bytes, args)), 1))[0]
        return raise_for(reply)

    async def get(self, key: str) -> bytes:
        """Raises: KeyNotFound."""
        return bytes(await self._call(b"get", key))

    async def put(self, key: str, value: Value) -> None:
        """Raises: ReadOnlySession, PayloadTooLarge, InvalidRequest."""
        await self._call(b"put", key, value)

    async def exists(self, key: str) -> bool:
        try:
            await self._call(b"exists", key)
        except KeyError:
            return False
        return True

    async def remove(self, key: str) -> None:
        """Raises: KeyNotFound, ReadOnlySession."""
        await self._call(b"remove", key)

    async def keys(self) -> list[str]:
        return strs(await self._call(b"keys"))

    async def get_all(self) -> dict[str, bytes]:
        return pairs(await self._call(b"get_all"))

    async def put_all(self, data: Mapping[str, Value]) -> None:
        """Replace every pair.  Raises: ReadOnlySession, PayloadTooLarge, InvalidRequest."""
        await self._call(b"put_all", *flatten(data))

    async def ttl(self) -> int:
        """Seconds until the session expires."""
        return int(await self._call(b"ttl"))

    async def set_ttl(self, seconds: int) -> None:
        """Give the session its own idle lifetime, counted from now."""
        await self._call(b"ttl", seconds)

    async def regenerate_id(self) -> str:
        """Move the session to a fresh id; the old one is gone at once."""
        self.id = (await self._call(b"regenerate_id")).decode()
        return self.id

    async def save(
        self,
        changes: Mapping[str, Value] | None = None,
        removed: Iterable[str] = (),
        *,
        ttl: int | None = None,
    ) -> None:
        """Apply ``changes`` and ``removed``, then close (saving), in one round trip.

        Raises: SessionGone, LockLost, PayloadTooLarge, InvalidRequest, StorageUnavailable.
        """
        conn = self._conn
        if conn is None:
            raise RuntimeError("the session is not open: use it inside 'with client.session()'")
        changes = changes or {}
        removed = list(removed)
        payload = b"".join(encode(b"put", k, to_bytes(v)) for k, v in changes.items())
        payload += b"".join(encode(b"remove", k) for k in removed)
        count = len(changes) + len(removed)
        if ttl is not None:
            payload += encode(b"ttl", ttl)
            count += 1
        self._open = False
        replies = await conn.request(payload + encode(b"close"), count + 1)
        for reply in replies:
            raise_for(reply, allow=KeyNotFound)

    async def commit(self) -> None:
        """Save and unlock; the session stays open read-only.

        Raises: SessionGone, LockLost, StorageUnavailable.
        """
        await self._call(b"commit")
        self.mode = "r"

    async def close(self) -> None:
        """Save, unlock and close (also what leaving the ``with`` block does).

        Raises: SessionGone, LockLost, StorageUnavailable.
        """
        self._open = False
        await self._call(b"close")

    async def abort(self) -> None:
        """Drop the uncommitted changes, unlock and close."""
        self._open = False
        await self._call(b"abort")

    async def destroy(self) -> None:
        """Delete the session and close it."""
        self._open = False
        await self._call(b"destroy")
