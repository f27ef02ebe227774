"""Redis Cluster through redis-py's cluster client, with the calls of :class:`RedisConnection`
(the container does not know which of the two it drives).

The cluster client finds each key's node and follows the cluster's redirections; every call is
bounded by one ``asyncio.timeout`` (retries included), and Redis's failures surface as
:class:`StorageError`.  redis-py reconnects by itself once a node is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisError

from ...exceptions import StorageError
from .scripts import Script

__all__ = ["ClusterConnection"]


class ClusterConnection:
    """Commands to a Redis Cluster; see the module docstring."""

    def __init__(self, target: str, *, timeout: float, max_connections: int) -> None:
        self.timeout = timeout
        # _guard() bounds every call with one timer; the driver's own read and pool timers
        # would only add cost per call.  A dead pooled connection is found out by the retry.
        self._client: Any = RedisCluster.from_url(
            target,
            max_connections=max_connections,
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
            health_check_interval=0,
        )

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Redis's failures as the storage's, and no call longer than ``timeout``."""
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

    async def start(self) -> None:
        async with self._guard():
            await self._client.ping()

    async def close(self) -> None:
        async with self._guard():
            await self._client.aclose()

    async def call(self, *args: Any) -> Any:
        async with self._guard():
            return await self._client.execute_command(*args)

    async def run(
        self,
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[Any],
        convert: Callable[[Any], Any] | None = None,
        also: Sequence[Any] | None = None,
    ) -> Any:
        async with self._guard():
            try:
                reply = await self._client.execute_command(
                    "EVALSHA", script.sha, len(keys), *keys, *args
                )
            except NoScriptError:
                reply = await self._client.execute_command(
                    "EVAL", script.text, len(keys), *keys, *args
                )
            if also is not None:  # on the same key's node, right after
                reply = (reply, await self._client.execute_command(*also))
        if convert is None:
            return reply
        value = convert(reply)
        return await value if isinstance(value, asyncio.Future) else value

    async def batch(
        self, script: Script, calls: Sequence[tuple[Sequence[bytes], Sequence[Any]]]
    ) -> list[Any]:
        """Several calls of one script in one pipeline per node (as ``EVAL``: a pipeline
        cannot retry one command after ``NOSCRIPT``)."""
        if not calls:
            return []
        async with self._guard():
            pipe = self._client.pipeline(transaction=False)
            for keys, args in calls:
                pipe.execute_command("EVAL", script.text, len(keys), *keys, *args)
            return list(await pipe.execute())

    async def scan(self, cursor: int, match: bytes, count: int) -> tuple[int, list[bytes]]:
        """One SCAN step over every primary: the cursor's high bits name the node."""
        async with self._guard():
            nodes = sorted(self._client.get_primaries(), key=lambda n: n.name)
            index, inner = divmod(cursor, 1 << 64)
            if index >= len(nodes):
                return 0, []
            following, keys = await self._client.execute_command(
                "SCAN", inner, "MATCH", match, "COUNT", count, target_nodes=nodes[index]
            )
        if isinstance(following, dict):  # the cluster client keys cursors by node
            following = next(iter(following.values()))
        following = int(following)
        if following == 0:
            following = 0 if index + 1 >= len(nodes) else (index + 1) << 64
        else:
            following += index << 64
        return following, list(keys)
