"""``redis://``, ``rediss://`` and ``redis+cluster://``: sessions in Redis, shared by daemons.

Several daemons may point at one Redis (or one Redis Cluster) and behave as one server: the
sessions, their locks and the user index all live in Redis, never in a daemon's memory.

Keys, under a prefix (``?prefix=``, default ``sessionserver``), each with the session id as
its hash tag so that a session and its lock share a cluster slot:

- ``<prefix>:s:{<id>}``, a hash: the session's pairs, plus four fields whose names start with a
  space (which no session key can contain): `` c`` created, `` a`` last access, `` t`` the
  session's own idle lifetime when it has one, `` u`` the user it names.  Its Redis TTL is set
  to the session's deadline, so Redis reclaims expired sessions by itself; the scripts also
  compare the deadline against the daemon's clock, so an expired session is absent at once.
  An access updates `` a`` and the TTL only: the pairs are never rewritten by a refresh.
- ``<prefix>:l:{<id>}``: the session's write lock, a random token set with ``SET NX PX`` and
  released or extended only by a script that compares the token first.  A save under a lock
  carries the token and is refused (:class:`~.base.LockLost`) if the lock changed hands.
- ``<prefix>:u:{<user>}``, a set: the sessions that name the user.  Kept on create, save,
  rename and delete, after the session's own script (another slot); an update that fails
  then is retried in the background, and the save it follows is answered as done.  Members
  whose session expired or changed hands are pruned when the set is read and by a slow
  background sweep.

Every multi-step change is one Lua script (``scripts/*.lua``) on one key's slot, so it is
atomic in a cluster as on a single server, and each request phase is one round trip.  A save
with its new lifetime and its unlock, and a one-command write, are one script each.  A read is
the access script (``touch``: the deadline check and the slide) with a plain ``HGETALL`` right
behind it in the same write, and a lock is ``lock_touch`` (``SET NX PX`` and the access) with
the same ``HGETALL``: the pairs never pass through Lua, whose conversion of replies is most of
a script's cost (see ``replies.py`` for how the two replies make one).  The ``HGETALL`` need
not be atomic with its script: under the lock nobody else writes the session, and a reader
sees what was committed just before or just after.  Rename is the exception (two slots): the
new session is created first and the old one deleted second, both under the session's lock.

A single server is driven by :class:`~.connection.RedisConnection` (hiredis, one connection,
every command of a loop turn in one write); a cluster by redis-py's cluster client
(:class:`~.cluster.ClusterConnection`).  No call takes longer than ``?timeout=`` seconds
(default 5); connection errors and timeouts surface as :class:`~.base.StorageError`, which the
daemon answers with ``err Storage unavailable.``; the next call reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from asyncio import Future
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ...ids import is_valid_id
from ..base import (
    APPLIED,
    APPLY_ABSENT,
    SharedStorage,
    Step,
    StorageError,
    StorageOptions,
    plain_user,
    ready,
    user_id,
)
from ..urls import parse_redis_url
from . import replies as R
from . import scripts as S
from .replies import Pairs
from .scripts import Script

logger = logging.getLogger(__name__)

#: How long a user-index update that failed after its save is retried in the background.
REPAIR_FOR = 600.0

__all__ = ["RedisStorage"]


class _Client(Protocol):
    """What the container asks of :class:`RedisConnection` and :class:`ClusterConnection`."""

    def call(self, *args: Any) -> Awaitable[Any]: ...
    def run(
        self,
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[Any],
        convert: Callable[[Any], Any] | None = None,
        also: Sequence[Any] | None = None,
    ) -> Step[Any]:
        """The script's result, ``convert(reply)`` if given (which may raise); with ``also``,
        that command right after it and ``convert`` of the pair of replies."""

    async def batch(
        self, script: Script, calls: Sequence[tuple[Sequence[bytes], Sequence[Any]]]
    ) -> list[Any]: ...
    async def scan(self, cursor: int, match: bytes, count: int) -> tuple[int, list[bytes]]: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


def _connect(target: str, cluster: bool, timeout: float, max_connections: int) -> _Client:
    if cluster:
        from .cluster import ClusterConnection

        return ClusterConnection(target, timeout=timeout, max_connections=max_connections)
    from .connection import RedisConnection
    from .options import connection_options

    return RedisConnection(**connection_options(target), timeout=timeout)


class RedisStorage(SharedStorage):
    """Sessions in Redis or Redis Cluster; see the module docstring."""

    scheme = "redis"

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        target, self.cluster, prefix, self.timeout, self.max_connections = parse_redis_url(url)
        self._target = target
        self._prefix = prefix.encode()
        self._client: _Client | None = None
        self._repairs: set[asyncio.Task[None]] = set()
        self._ttl = str(options.ttl).encode()
        self._maxlife = str(options.max_lifetime or 0).encode()
        self._user_keys = options.user_keys
        self._sweep_cursor = 0
        self._sweep_at = 0.0

    # -- keys -------------------------------------------------------------------------------

    def _skey(self, sid: bytes) -> bytes:
        return self._prefix + b":s:{" + sid + b"}"

    def _lkey(self, sid: bytes) -> bytes:
        return self._prefix + b":l:{" + sid + b"}"

    def _ukey(self, user: bytes) -> bytes:
        return self._prefix + b":u:{" + user + b"}"

    def _sid(self, key: bytes) -> bytes:
        return key[len(self._prefix) + 4 : -1]

    def _args(self, now: float) -> list[bytes]:
        return [repr(now).encode(), self._ttl, self._maxlife]

    # -- lifecycle --------------------------------------------------------------------------

    def describe(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", "")) + (
            f" (prefix {self._prefix.decode()})"
        )

    async def start(self) -> None:
        try:
            self._client = _connect(self._target, self.cluster, self.timeout, self.max_connections)
        except (OSError, ValueError) as exc:  # a TLS file that cannot be read, say
            raise StorageError(f"redis: {exc}") from exc
        await self._client.start()

    async def stop(self) -> None:
        for task in self._repairs:
            task.cancel()
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    def info(self) -> dict[str, int | float | str]:
        return {"redis_cluster": int(self.cluster)}

    # -- helpers ----------------------------------------------------------------------------

    @property
    def _c(self) -> _Client:
        client = self._client
        if client is None:
            raise StorageError("redis: not connected")
        return client

    def _user(self, data: Pairs) -> bytes:
        return (user_id(data, self._user_keys) or b"") if self._user_keys else b""

    async def _reindex(self, sid: bytes, old: bytes, new: bytes) -> None:
        """Move ``sid`` from ``old``'s set to ``new``'s (either may be empty)."""
        if old == new:
            return
        if old:
            await self._c.call("SREM", self._ukey(old), sid)
        if new:
            await self._c.call("SADD", self._ukey(new), sid)

    async def _each_key(
        self, match: bytes, step: Callable[[list[bytes]], Awaitable[None]], count: int = 1000
    ) -> None:
        cursor = 0
        while True:
            cursor, keys = await self._c.scan(cursor, match, count)
            if keys:
                await step(keys)
            if cursor == 0:
                return

    # -- the contract -----------------------------------------------------------------------

    def load(self, sid: bytes, now: float) -> Step[Pairs | None]:
        if not is_valid_id(sid):
            return ready(None)
        key = self._skey(sid)
        return self._c.run(S.TOUCH, [key], self._args(now), R.loaded, ("HGETALL", key))

    async def peek(self, sid: bytes, now: float) -> tuple[Pairs, float] | None:
        if not is_valid_id(sid):
            return None
        found = await self._c.run(S.PEEK, [self._skey(sid)], self._args(now))
        if not found:
            return None
        flat, left = found
        return R.pairs(flat), float(left)

    async def create(self, sid: bytes, data: Pairs, now: float, ttl: int | None = None) -> bool:
        if not is_valid_id(sid):
            return False
        user = self._user(data)
        created = await self._c.run(
            S.CREATE, [self._skey(sid)], [*self._args(now), user, R.ttl_arg(ttl), *R.flat(data)]
        )
        if not created:
            return False
        await self._reindex(sid, b"", user)
        return True

    def _save(
        self,
        sid: bytes,
        token: bytes | None,
        data: Pairs,
        now: float,
        ttl: int | None,
        release: bool,
    ) -> Step[bool]:
        user = self._user(data)
        keys = [self._skey(sid), self._lkey(sid)]
        args = [
            *self._args(now),
            token or b"",
            user,
            R.ttl_arg(ttl),
            b"1" if release else b"0",
            *R.flat(data),
        ]
        if not self._user_keys:  # one script, nothing to reindex
            return self._c.run(S.SAVE, keys, args, R.saved)
        return self._c.run(S.SAVE, keys, args, partial(self._saved_as, sid, user))

    def _saved_as(self, sid: bytes, user: bytes, result: list[Any]) -> bool | Future[bool]:
        """A save's outcome; a future of it when the user index has to follow."""
        old = R.saved_user(result)
        if old is None:
            return False
        if old == user:
            return True
        return self._reindex_then(sid, old, user, True)

    def _reindex_then(self, sid: bytes, old: bytes, new: bytes, value: Any) -> Future[Any]:
        """:meth:`_reindex`, as a Task whose result is ``value``."""

        async def reindex() -> Any:
            try:
                await self._reindex(sid, old, new)
            except StorageError as exc:
                # The save stands, so the reply says so; the index follows when it can.
                logger.warning("a session's user index is repaired in the background: %s", exc)
                self._repair(sid, old, new)
            return value

        return asyncio.get_running_loop().create_task(reindex())

    def _repair(self, sid: bytes, old: bytes, new: bytes) -> None:
        """Retry :meth:`_reindex` with backoff for :data:`REPAIR_FOR` seconds.  Until then
        the index may miss the session (a stale entry is harmless: ``user_sessions`` checks
        each session's own user)."""
        loop = asyncio.get_running_loop()

        async def repair() -> None:
            delay, give_up = 0.05, loop.time() + REPAIR_FOR
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._reindex(sid, old, new)
                except StorageError as exc:
                    if loop.time() >= give_up:
                        logger.error("a session's user index could not be repaired: %s", exc)
                        return
                    delay = min(delay * 2, 5.0)
                else:
                    logger.warning("a session's user index is repaired")
                    return

        task = loop.create_task(repair())
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)

    async def save(self, sid: bytes, data: Pairs, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        return await self._save(sid, None, data, now, None, False)

    def save_and_release(
        self, sid: bytes, token: bytes, data: Pairs, now: float, ttl: int | None
    ) -> Step[bool]:
        """A lock holder's fenced save, its new idle lifetime and the release: one script."""
        if not is_valid_id(sid):
            return ready(False)
        return self._save(sid, token, data, now, ttl, True)

    async def delete(self, sid: bytes, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        result = await self._c.run(S.DELETE, [self._skey(sid)], self._args(now))
        if not result[0]:
            return False
        await self._reindex(sid, R.as_bytes(result[1]), b"")
        return True

    async def rename(self, old: bytes, new: bytes, now: float) -> bool:
        if not (is_valid_id(old) and is_valid_id(new)) or old == new:
            return False
        # Two slots in a cluster: copy to the new id, then delete the old one (under the
        # session's lock, so no writer comes between).
        c = self._c
        found = await c.run(S.RAW, [self._skey(old)], self._args(now))
        if not found:
            return False
        fields, left = found
        ms = max(1, int(float(left) * 1000))
        if not await c.run(S.RESTORE, [self._skey(new)], [*self._args(now), ms, *fields]):
            return False
        gone = await c.run(S.DELETE, [self._skey(old)], self._args(now))
        if not gone[0]:  # deleted meanwhile: it must not live on under the new id
            await c.run(S.DELETE, [self._skey(new)], self._args(now))
            return False
        user = R.as_bytes(gone[1])
        if user:
            await c.call("SREM", self._ukey(user), old)
            await c.call("SADD", self._ukey(user), new)
        return True

    async def get_ttl(self, sid: bytes, now: float) -> float | None:
        found = await self.peek(sid, now)
        return None if found is None else found[1]

    async def set_ttl(self, sid: bytes, ttl: int, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        return bool(await self._c.run(S.SET_TTL, [self._skey(sid)], [*self._args(now), ttl]))

    async def purge_expired(self, now: float) -> int:
        # Redis drops expired sessions itself.  What is left to tidy is the user index: every
        # ten seconds, one step through the user sets, dropping members that are gone.
        if self._user_keys and time.monotonic() >= self._sweep_at:
            self._sweep_at = time.monotonic() + 10
            self._sweep_cursor, keys = await self._c.scan(
                self._sweep_cursor, self._prefix + b":u:*", 100
            )
            for key in keys:
                user = key[len(self._prefix) + 4 : -1]
                await self._live_members(user, now)
        return 0

    async def gc(self, idle: float, now: float) -> int:
        removed = 0
        args = [*self._args(now), repr(float(idle)).encode()]

        async def step(keys: list[bytes]) -> None:
            nonlocal removed
            results = await self._c.batch(S.GC, [([key], args) for key in keys])
            for key, result in zip(keys, results, strict=True):
                if result[0]:
                    removed += 1
                    await self._reindex(self._sid(key), R.as_bytes(result[1]), b"")

        await self._each_key(self._prefix + b":s:*", step)
        return removed

    async def _live(self, keys: list[bytes], now: float, user: bytes = b"") -> list[bool]:
        args = [*self._args(now), b"-1", user]
        return [bool(r) for r in await self._c.batch(S.CHECK, [([key], args) for key in keys])]

    async def count(self, now: float) -> int:
        total = 0

        async def step(keys: list[bytes]) -> None:
            nonlocal total
            total += sum(await self._live(keys, now))

        await self._each_key(self._prefix + b":s:*", step)
        return total

    async def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        following, keys = await self._c.scan(cursor, self._prefix + b":s:*", count)
        live = await self._live(keys, now) if keys else []
        return following, [self._sid(k) for k, ok in zip(keys, live, strict=True) if ok]

    def apply(
        self,
        sid: bytes,
        changes: Pairs,
        removed: list[bytes],
        *,
        max_keys: int,
        max_session: int,
        token: bytes | None,
        now: float,
        ttl: int | None = None,
    ) -> Step[int | None]:
        if not is_valid_id(sid):
            return ready(APPLY_ABSENT)
        keys = [self._skey(sid), self._lkey(sid)]
        args = [
            *self._args(now),
            token or b"",
            max_keys,
            max_session,
            R.ttl_arg(ttl),
            len(self._user_keys),
            *self._user_keys,
            len(changes),
            *R.flat(changes),
            *removed,
        ]
        if not self._user_keys:  # the old user and the new are both none
            return self._c.run(S.APPLY, keys, args, R.code)
        return self._c.run(S.APPLY, keys, args, partial(self._applied_as, sid))

    def _applied_as(self, sid: bytes, result: list[Any]) -> int | Future[int]:
        """A one-step write's code; a future of it when the user index has to follow."""
        code = int(result[0])
        if code != APPLIED:
            return code
        old, new = R.as_bytes(result[1]), R.as_bytes(result[2])
        return code if old == new else self._reindex_then(sid, old, new, code)

    # -- locks ------------------------------------------------------------------------------

    async def lock_acquire(self, sid: bytes, token: bytes, lease: float) -> bool:
        ms = max(1, int(lease * 1000))
        return bool(await self._c.call("SET", self._lkey(sid), token, "NX", "PX", ms))

    def lock_and_load(
        self, sid: bytes, token: bytes, lease: float, now: float
    ) -> Step[tuple[bool, Pairs | None] | None]:
        if not is_valid_id(sid):
            return ready(None)
        key = self._skey(sid)
        return self._c.run(
            S.LOCK_TOUCH,
            [key, self._lkey(sid)],
            [*self._args(now), token, max(1, int(lease * 1000))],
            R.locked,
            ("HGETALL", key),
        )

    async def lock_renew(self, held: list[tuple[bytes, bytes]], lease: float) -> list[bool]:
        ms = max(1, int(lease * 1000))
        results = await self._c.batch(
            S.RENEW, [([self._lkey(sid)], [token, ms]) for sid, token in held]
        )
        return [bool(r) for r in results]

    async def lock_release(self, sid: bytes, token: bytes) -> None:
        await self._c.run(S.UNLOCK, [self._lkey(sid)], [token])

    # -- users ------------------------------------------------------------------------------

    async def _live_members(self, user: bytes, now: float) -> list[bytes]:
        key = self._ukey(user)
        members = sorted(await self._c.call("SMEMBERS", key))
        if not members:
            return []
        live = await self._live([self._skey(sid) for sid in members], now, user)
        stale = [sid for sid, ok in zip(members, live, strict=True) if not ok]
        if stale:
            await self._c.call("SREM", key, *stale)
        return [sid for sid, ok in zip(members, live, strict=True) if ok]

    async def user_sessions(self, user: bytes, now: float) -> list[bytes]:
        return await self._live_members(plain_user(user), now)
