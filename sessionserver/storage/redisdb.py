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
  rename and delete; members whose session expired or changed hands are pruned when the set
  is read and by a slow background sweep.

Every multi-step change is one Lua script on one key's slot, so it is atomic in a cluster as
on a single server.  Rename is the exception (two slots): the new session is created first and
the old one deleted second, both under the session's lock.

No call takes longer than ``?timeout=`` seconds (default 5), retries included; connection
errors and timeouts surface as :class:`~.base.StorageError`, which the daemon answers with
``err Storage unavailable.``; redis-py reconnects by itself once Redis is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisError

from ..ids import is_valid_id
from .base import (
    APPLIED,
    APPLY_ABSENT,
    LockLost,
    Storage,
    StorageError,
    StorageOptions,
    plain_user,
    user_id,
)
from .urls import parse_redis_url

__all__ = ["RedisStorage"]

T = TypeVar("T")

#: Pairs per HSET inside a script (Lua's unpack() has a stack limit).
_CHUNK = 500

# What every session script starts with: its ARGV begins with now, ttl, maxlife, and these
# helpers read a session's meta fields the same way everywhere.
_PRELUDE = """
local now, ttl, maxlife = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
-- The deadline of a session from its meta fields.
local function deadline(c, a, t)
  local d = tonumber(a) + tonumber(t or ttl)
  if maxlife > 0 then
    local e = tonumber(c) + maxlife
    if e < d then d = e end
  end
  return d
end
local function expire(key, d)
  redis.call('PEXPIRE', key, math.max(1, math.ceil((d - now) * 1000)))
end
local function hset(key, fields)
  for i = 1, #fields, STEP do
    redis.call('HSET', key, unpack(fields, i, math.min(i + STEP - 1, #fields)))
  end
end
-- The meta fields {c, a, t, u} of the live session at key; nil if absent or expired (an
-- expired one is deleted on the way).
local function live(key)
  local m = redis.call('HMGET', key, ' c', ' a', ' t', ' u')
  if not m[2] then return nil end
  if deadline(m[1], m[2], m[3]) <= now then
    redis.call('DEL', key)
    return nil
  end
  return m
end
-- The live session at key as its meta fields by name and its flat pairs; nil as for live().
local function read(key)
  local h = redis.call('HGETALL', key)
  if #h == 0 then return nil end
  local meta, out = {}, {}
  for i = 1, #h, 2 do
    local f = h[i]
    if string.byte(f, 1) == 32 then meta[f] = h[i + 1] else
      out[#out + 1] = f
      out[#out + 1] = h[i + 1]
    end
  end
  if deadline(meta[' c'], meta[' a'], meta[' t']) <= now then
    redis.call('DEL', key)
    return nil
  end
  return meta, out
end
-- An access: the last-access time and the TTL move, the pairs stay; the new deadline.
local function touch(key, c, t)
  redis.call('HSET', key, ' a', ARGV[1])
  local d = deadline(c, ARGV[1], t)
  expire(key, d)
  return d
end
""".replace("STEP", str(2 * _CHUNK))

# KEYS: session.  ARGV: now, ttl, maxlife, touch (1/0).
# -> false, or {flat pairs, seconds left}
_LOAD = """
local meta, out = read(KEYS[1])
if not meta then return false end
local d = deadline(meta[' c'], meta[' a'], meta[' t'])
if ARGV[4] == '1' then d = touch(KEYS[1], meta[' c'], meta[' t']) end
return {out, tostring(d - now)}
"""

# KEYS: session.  ARGV: now, ttl, maxlife, user ('' for none), pairs...  -> 1 or 0
_CREATE = """
if live(KEYS[1]) then return 0 end
local fields = {' c', ARGV[1], ' a', ARGV[1]}
if ARGV[4] ~= '' then
  fields[5] = ' u'
  fields[6] = ARGV[4]
end
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
hset(KEYS[1], fields)
expire(KEYS[1], deadline(ARGV[1], ARGV[1], nil))
return 1
"""

# KEYS: session, lock.  ARGV: now, ttl, maxlife, token ('' for none), user ('' for none),
# pairs...  -> {1, old user} saved, {0} absent or expired, {-1} the lock changed hands
_SAVE = """
local m = live(KEYS[1])
if not m then return {0} end
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[4] then return {-1} end
redis.call('DEL', KEYS[1])
local fields = {' c', m[1], ' a', ARGV[1]}
if m[3] then
  fields[#fields + 1] = ' t'
  fields[#fields + 1] = m[3]
end
if ARGV[5] ~= '' then
  fields[#fields + 1] = ' u'
  fields[#fields + 1] = ARGV[5]
end
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
hset(KEYS[1], fields)
expire(KEYS[1], deadline(m[1], ARGV[1], m[3]))
return {1, m[4] or ''}
"""

# KEYS: session.  ARGV: now, ttl, maxlife.  -> {1, user} deleted, {0} absent or expired
_DELETE = """
local m = live(KEYS[1])
if not m then return {0} end
redis.call('DEL', KEYS[1])
return {1, m[4] or ''}
"""

# KEYS: session.  ARGV: now, ttl, maxlife.
# -> false, or {flat fields including the meta fields, seconds left}
_RAW = """
local m = live(KEYS[1])
if not m then return false end
return {redis.call('HGETALL', KEYS[1]), tostring(deadline(m[1], m[2], m[3]) - now)}
"""

# KEYS: session.  ARGV: now, ttl, maxlife, ms to live, fields...  -> 1 created, 0 taken
_RESTORE = """
if live(KEYS[1]) then return 0 end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
hset(KEYS[1], fields)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: session.  ARGV: now, ttl, maxlife, idle (-1: only expiry), user ('': any)
# -> 1 live (and naming user, when asked), 0 not
_CHECK = """
local m = live(KEYS[1])
if not m then return 0 end
if ARGV[5] ~= '' and m[4] ~= ARGV[5] then return 0 end
return 1
"""

# KEYS: session.  ARGV: now, ttl, maxlife, idle.  -> {1, user} deleted as idle, {0} not
_GC = """
local m = live(KEYS[1])
if not m then return {0} end
if tonumber(m[2]) < now - tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
  return {1, m[4] or ''}
end
return {0}
"""

# KEYS: session.  ARGV: now, ttl, maxlife, new ttl.  -> 1 or 0
_SET_TTL = """
local m = live(KEYS[1])
if not m then return 0 end
redis.call('HSET', KEYS[1], ' t', ARGV[4])
touch(KEYS[1], m[1], ARGV[4])
return 1
"""

# KEYS: session, lock.  ARGV: now, ttl, maxlife, token ('' none), max keys, max size,
# number of user keys, user keys..., number of changed pairs, pairs..., removed keys...
# -> {1, old user, new user} applied; {0} absent or expired; {-2} locked; {-3} too many keys;
#    {-4} too large
_APPLY = """
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[4] then return {-2} end
local meta, flat = read(KEYS[1])
if not meta then return {0} end
local cur = {}
for j = 1, #flat, 2 do cur[flat[j]] = flat[j + 1] end
local i = 7
local nuser = tonumber(ARGV[i])
local ukeys = {}
for j = 1, nuser do ukeys[j] = ARGV[i + j] end
i = i + nuser + 1
local npairs = tonumber(ARGV[i])
local set, gone = {}, {}
for j = 1, npairs do
  local k, v = ARGV[i + 2 * j - 1], ARGV[i + 2 * j]
  cur[k] = v
  set[#set + 1] = k
  set[#set + 1] = v
end
for j = i + 2 * npairs + 1, #ARGV do
  if cur[ARGV[j]] then
    cur[ARGV[j]] = nil
    gone[#gone + 1] = ARGV[j]
  end
end
local count, size = 0, 0
for k, v in pairs(cur) do
  count = count + 1
  size = size + #k + #v
end
if count > tonumber(ARGV[5]) then return {-3} end
if size > tonumber(ARGV[6]) then return {-4} end
local user = ''
for j = 1, #ukeys do
  local v = cur[ukeys[j]]
  if v then
    if #v >= 2 and string.sub(v, 1, 1) == '"' and string.sub(v, -1) == '"' then
      v = string.sub(v, 2, -2)
    end
    user = v
    break
  end
end
if #gone > 0 then redis.call('HDEL', KEYS[1], unpack(gone)) end
if #set > 0 then hset(KEYS[1], set) end
if user ~= '' then
  redis.call('HSET', KEYS[1], ' u', user)
else
  redis.call('HDEL', KEYS[1], ' u')
end
touch(KEYS[1], meta[' c'], meta[' t'])
return {1, meta[' u'] or '', user}
"""

# KEYS: session, lock.  ARGV: now, ttl, maxlife, token, lease ms.
# -> {0} the lock is taken; {1} locked, the session absent; {1, flat pairs} locked and loaded
_LOCK_LOAD = """
if not redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', ARGV[5]) then return {0} end
local meta, out = read(KEYS[1])
if not meta then return {1} end
touch(KEYS[1], meta[' c'], meta[' t'])
return {1, out}
"""

# The lock scripts take other arguments and need no prelude.

# KEYS: lock.  ARGV: token, ms.  -> 1 extended, 0 not held by token
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lock.  ARGV: token.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class _Script:
    """A Lua script called by its SHA, loaded on first use (and again after a restart or a
    ``SCRIPT FLUSH`` of the server, or on a cluster node that has not seen it)."""

    def __init__(self, body: str, *, session: bool = True) -> None:
        import hashlib

        self.text = _PRELUDE + body if session else body
        self.sha = hashlib.sha1(self.text.encode()).hexdigest()

    async def __call__(self, client: Any, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        try:
            return await client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.execute_command("EVAL", self.text, len(keys), *keys, *args)

    def queue(self, pipe: Any, keys: Sequence[bytes], args: Sequence[Any]) -> None:
        """Add the call to a pipeline (as EVAL: batches are rare, and a pipeline cannot retry
        one command after NOSCRIPT)."""
        pipe.execute_command("EVAL", self.text, len(keys), *keys, *args)


_LOAD_S = _Script(_LOAD)
_CREATE_S = _Script(_CREATE)
_SAVE_S = _Script(_SAVE)
_DELETE_S = _Script(_DELETE)
_RAW_S = _Script(_RAW)
_RESTORE_S = _Script(_RESTORE)
_CHECK_S = _Script(_CHECK)
_GC_S = _Script(_GC)
_SET_TTL_S = _Script(_SET_TTL)
_RENEW_S = _Script(_RENEW, session=False)
_APPLY_S = _Script(_APPLY)
_LOCK_LOAD_S = _Script(_LOCK_LOAD)
_UNLOCK_S = _Script(_UNLOCK, session=False)


def _s(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class RedisStorage(Storage):
    """Sessions in Redis or Redis Cluster; see the module docstring."""

    scheme = "redis"
    shared = True
    native_expiry = True

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        target, self.cluster, prefix, self.timeout, self.max_connections = parse_redis_url(url)
        self._target = target
        self._prefix = prefix.encode()
        self._client: Any = None
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
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), 1)
        # _guard() bounds every call (connection wait, retries and all) with one timer; the
        # driver's own read and pool timers would only add cost per call.  A dead pooled
        # connection is found out by the retry, not by a health check per call.
        common: dict[str, Any] = {
            "socket_timeout": None,
            "socket_connect_timeout": self.timeout,
            "retry": retry,
            "health_check_interval": 0,
        }
        if self.cluster:
            self._client = RedisCluster.from_url(
                self._target, max_connections=self.max_connections, **common
            )
        else:
            pool = aioredis.BlockingConnectionPool.from_url(
                self._target,
                max_connections=self.max_connections,
                timeout=None,
                **common,
            )
            self._client = aioredis.Redis.from_pool(pool)  # closes the pool with it
        async with self._guard():
            await self._client.ping()

    async def stop(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            async with self._guard():
                await client.aclose()

    def info(self) -> dict[str, int | float | str]:
        return {"redis_cluster": int(self.cluster)}

    # -- helpers ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Redis's failures as the storage's, and no call longer than ``timeout`` (retries
        included), whatever state the network is in."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except RedisError as exc:
            raise StorageError(f"redis: {exc}") from exc
        except TimeoutError:
            raise StorageError(f"redis: no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise StorageError(f"redis: {exc}") from exc
        except RuntimeError as exc:  # uvloop: a write on a transport the store reset
            raise StorageError(f"redis: connection lost ({exc})") from exc

    async def _call(self, script: _Script, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        async with self._guard():
            return await script(self._client, keys, args)

    async def _batch(
        self, calls: list[tuple[_Script, Sequence[bytes], Sequence[Any]]]
    ) -> list[Any]:
        """Several script calls in one pipeline (per node in a cluster); their results."""
        if not calls:
            return []
        async with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for script, keys, args in calls:
                script.queue(pipe, keys, args)
            return list(await pipe.execute())

    def _user(self, data: dict[bytes, bytes]) -> bytes:
        return (user_id(data, self._user_keys) or b"") if self._user_keys else b""

    async def _reindex(self, sid: bytes, old: bytes, new: bytes) -> None:
        """Move ``sid`` from ``old``'s set to ``new``'s (either may be empty)."""
        if old == new:
            return
        async with self._guard():
            if old:
                await self._client.srem(self._ukey(old), sid)
            if new:
                await self._client.sadd(self._ukey(new), sid)

    @staticmethod
    def _flat(data: dict[bytes, bytes]) -> list[bytes]:
        flat: list[bytes] = []
        for key, value in data.items():
            flat.append(key)
            flat.append(value)
        return flat

    async def _scan_keys(self, cursor: int, match: bytes, count: int) -> tuple[int, list[bytes]]:
        """One SCAN step over every node: the cursor's high bits name the node (cluster)."""
        async with self._guard():
            if not self.cluster:
                following, keys = await self._client.scan(cursor, match=match, count=count)
                return int(following), list(keys)
            nodes = sorted(self._client.get_primaries(), key=lambda n: n.name)
            index, inner = divmod(cursor, 1 << 64)
            if index >= len(nodes):
                return 0, []
            reply = await self._client.execute_command(
                "SCAN", inner, "MATCH", match, "COUNT", count, target_nodes=nodes[index]
            )
            following, keys = reply
            if isinstance(following, dict):  # the cluster client keys cursors by node
                following = next(iter(following.values()))
            following = int(following)
            if following == 0:
                following = 0 if index + 1 >= len(nodes) else (index + 1) << 64
            else:
                following += index << 64
            return following, list(keys)

    async def _each_key(
        self, match: bytes, step: Callable[[list[bytes]], Awaitable[None]], count: int = 1000
    ) -> None:
        cursor = 0
        while True:
            cursor, keys = await self._scan_keys(cursor, match, count)
            if keys:
                await step(keys)
            if cursor == 0:
                return

    # -- the contract -----------------------------------------------------------------------

    async def load(self, sid: bytes, now: float) -> dict[bytes, bytes] | None:
        if not is_valid_id(sid):
            return None
        found = await self._call(_LOAD_S, [self._skey(sid)], [*self._args(now), b"1"])
        if not found:
            return None
        flat = found[0]
        return dict(zip(flat[::2], flat[1::2], strict=True))

    async def peek(self, sid: bytes, now: float) -> tuple[dict[bytes, bytes], float] | None:
        if not is_valid_id(sid):
            return None
        found = await self._call(_LOAD_S, [self._skey(sid)], [*self._args(now), b"0"])
        if not found:
            return None
        flat, left = found
        return dict(zip(flat[::2], flat[1::2], strict=True)), float(left)

    async def create(
        self, sid: bytes, data: dict[bytes, bytes], now: float, ttl: int | None = None
    ) -> bool:
        if not is_valid_id(sid):
            return False
        user = self._user(data)
        created = await self._call(
            _CREATE_S, [self._skey(sid)], [*self._args(now), user, *self._flat(data)]
        )
        if not created:
            return False
        await self._reindex(sid, b"", user)
        if ttl is not None:
            await self.set_ttl(sid, ttl, now)
        return True

    async def save(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        return await self._save(sid, data, now, b"")

    async def save_and_release(
        self, sid: bytes, token: bytes, data: dict[bytes, bytes], now: float, ttl: int | None
    ) -> bool:
        saved = await self._save(sid, data, now, token)
        if saved and ttl is not None:
            saved = await self.set_ttl(sid, ttl, now)
        await self.lock_release(sid, token)
        return saved

    async def _save(self, sid: bytes, data: dict[bytes, bytes], now: float, token: bytes) -> bool:
        """Save, fenced by ``token`` (b"": not fenced)."""
        if not is_valid_id(sid):
            return False
        user = self._user(data)
        result = await self._call(
            _SAVE_S,
            [self._skey(sid), self._lkey(sid)],
            [*self._args(now), token, user, *self._flat(data)],
        )
        if result[0] == -1:
            raise LockLost("the session's lock changed hands")
        if result[0] == 0:
            return False
        await self._reindex(sid, _s(result[1]), user)
        return True

    async def delete(self, sid: bytes, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        result = await self._call(_DELETE_S, [self._skey(sid)], self._args(now))
        if not result[0]:
            return False
        await self._reindex(sid, _s(result[1]), b"")
        return True

    async def rename(self, old: bytes, new: bytes, now: float) -> bool:
        if not (is_valid_id(old) and is_valid_id(new)) or old == new:
            return False
        # Two slots in a cluster: copy to the new id, then delete the old one (under the
        # session's lock, so no writer comes between).
        found = await self._call(_RAW_S, [self._skey(old)], self._args(now))
        if not found:
            return False
        fields, left = found
        ms = max(1, int(float(left) * 1000))
        if not await self._call(_RESTORE_S, [self._skey(new)], [*self._args(now), ms, *fields]):
            return False
        gone = await self._call(_DELETE_S, [self._skey(old)], self._args(now))
        if not gone[0]:  # deleted meanwhile: it must not live on under the new id
            await self._call(_DELETE_S, [self._skey(new)], self._args(now))
            return False
        user = _s(gone[1])
        if user:
            async with self._guard():
                pipe = self._client.pipeline(transaction=False)
                pipe.srem(self._ukey(user), old)
                pipe.sadd(self._ukey(user), new)
                await pipe.execute()
        return True

    async def get_ttl(self, sid: bytes, now: float) -> float | None:
        found = await self.peek(sid, now)
        return None if found is None else found[1]

    async def set_ttl(self, sid: bytes, ttl: int, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        return bool(await self._call(_SET_TTL_S, [self._skey(sid)], [*self._args(now), ttl]))

    async def purge_expired(self, now: float) -> int:
        # Redis drops expired sessions itself.  What is left to tidy is the user index: every
        # ten seconds, one step through the user sets, dropping members that are gone.
        if self._user_keys and time.monotonic() >= self._sweep_at:
            self._sweep_at = time.monotonic() + 10
            self._sweep_cursor, keys = await self._scan_keys(
                self._sweep_cursor, self._prefix + b":u:*", 100
            )
            for key in keys:
                user = key[len(self._prefix) + 4 : -1]
                await self._live_members(user, now)
        return 0

    async def gc(self, idle: float, now: float) -> int:
        removed = 0

        async def step(keys: list[bytes]) -> None:
            nonlocal removed
            args = [*self._args(now), repr(float(idle)).encode()]
            results = await self._batch([(_GC_S, [key], args) for key in keys])
            for key, result in zip(keys, results, strict=True):
                if result[0]:
                    removed += 1
                    await self._reindex(self._sid(key), _s(result[1]), b"")

        await self._each_key(self._prefix + b":s:*", step)
        return removed

    async def _live(self, keys: list[bytes], now: float, user: bytes = b"") -> list[bool]:
        args = [*self._args(now), b"-1", user]
        return [bool(r) for r in await self._batch([(_CHECK_S, [key], args) for key in keys])]

    async def count(self, now: float) -> int:
        total = 0

        async def step(keys: list[bytes]) -> None:
            nonlocal total
            total += sum(await self._live(keys, now))

        await self._each_key(self._prefix + b":s:*", step)
        return total

    async def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        following, keys = await self._scan_keys(cursor, self._prefix + b":s:*", count)
        live = await self._live(keys, now) if keys else []
        return following, [self._sid(k) for k, ok in zip(keys, live, strict=True) if ok]

    async def apply(
        self,
        sid: bytes,
        changes: dict[bytes, bytes],
        removed: list[bytes],
        *,
        max_keys: int,
        max_session: int,
        token: bytes | None,
        now: float,
        ttl: int | None = None,
    ) -> int | None:
        if not is_valid_id(sid):
            return APPLY_ABSENT
        result = await self._call(
            _APPLY_S,
            [self._skey(sid), self._lkey(sid)],
            [
                *self._args(now),
                token or b"",
                max_keys,
                max_session,
                len(self._user_keys),
                *self._user_keys,
                len(changes),
                *self._flat(changes),
                *removed,
            ],
        )
        code = int(result[0])
        if code == APPLIED:
            await self._reindex(sid, _s(result[1]), _s(result[2]))
            if ttl is not None and not await self.set_ttl(sid, ttl, now):
                return APPLY_ABSENT
        return code

    # -- locks ------------------------------------------------------------------------------

    async def lock_acquire(self, sid: bytes, token: bytes, lease: float) -> bool:
        async with self._guard():
            return bool(
                await self._client.set(
                    self._lkey(sid), token, nx=True, px=max(1, int(lease * 1000))
                )
            )

    async def lock_and_load(
        self, sid: bytes, token: bytes, lease: float, now: float
    ) -> tuple[bool, dict[bytes, bytes] | None] | None:
        if not is_valid_id(sid):
            return None
        result = await self._call(
            _LOCK_LOAD_S,
            [self._skey(sid), self._lkey(sid)],
            [*self._args(now), token, max(1, int(lease * 1000))],
        )
        if not result[0]:
            return False, None
        if len(result) < 2:
            return True, None
        flat = result[1]
        return True, dict(zip(flat[::2], flat[1::2], strict=True))

    async def lock_renew(self, held: list[tuple[bytes, bytes]], lease: float) -> list[bool]:
        ms = max(1, int(lease * 1000))
        results = await self._batch(
            [(_RENEW_S, [self._lkey(sid)], [token, ms]) for sid, token in held]
        )
        return [bool(r) for r in results]

    async def lock_release(self, sid: bytes, token: bytes) -> None:
        await self._call(_UNLOCK_S, [self._lkey(sid)], [token])

    # -- users ------------------------------------------------------------------------------

    async def _live_members(self, user: bytes, now: float) -> list[bytes]:
        key = self._ukey(user)
        async with self._guard():
            members = sorted(await self._client.smembers(key))
        if not members:
            return []
        live = await self._live([self._skey(sid) for sid in members], now, user)
        stale = [sid for sid, ok in zip(members, live, strict=True) if not ok]
        if stale:
            async with self._guard():
                await self._client.srem(key, *stale)
        return [sid for sid, ok in zip(members, live, strict=True) if ok]

    async def user_sessions(self, user: bytes, now: float) -> list[bytes]:
        return await self._live_members(plain_user(user), now)
