"""The session cycle through the Python clients, against redis-py on Redis.

Each variant runs the cycle of ``workload.py`` for a fixed time and counts cycles:

- ``one command``: ``client.read(sid)`` then ``client.write(sid, five pairs)`` (2 round trips)
- ``pipelined``: the ten commands of the cycle as two pipelines (2 round trips)
- ``command by command``: the ten commands through ``client.session()`` (10 round trips)

and redis-py (with hiredis) on the same cycle as a hash: ``HGETALL``+``EXPIRE`` then ``HSET`` of
five fields + ``EXPIRE``, pipelined (2 round trips) or command by command (4).  Sync clients run
in one thread; async clients run ``tasks`` coroutines at once on one loop.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ClientResult", "run_client_bench"]

PAIRS = {f"k{i}": f"v{i}" for i in range(1, 6)}
#: The same pairs, typed as redis-py's hset() wants them.
REDIS_PAIRS: Any = dict(PAIRS)


@dataclass(frozen=True)
class ClientResult:
    client: str
    variant: str
    cycles_per_s: float


def _timed_sync(cycle: Callable[[], None], duration: float) -> float:
    cycle()  # warm up: connect
    end = time.perf_counter() + duration
    n = 0
    while time.perf_counter() < end:
        cycle()
        n += 1
    return n / duration


async def _timed_async(cycles: list[Callable[[], Awaitable[None]]], duration: float) -> float:
    for cycle in cycles:
        await cycle()
    end = time.perf_counter() + duration
    counts = [0] * len(cycles)

    async def worker(i: int) -> None:
        cycle = cycles[i]
        while time.perf_counter() < end:
            await cycle()
            counts[i] += 1

    await asyncio.gather(*(worker(i) for i in range(len(cycles))))
    return sum(counts) / duration


def _sync_variants(url: str, redis_port: int, duration: float, prefix: str) -> list[ClientResult]:
    import redis

    from ..client import SessionClient

    results = []
    with SessionClient(url) as client:
        sid = client.create()

        def one_command() -> None:
            client.read(sid)
            client.write(sid, PAIRS)

        def pipelined() -> None:
            client.pipeline([["open", sid, "r"], ["get_all"], ["close"]])
            client.pipeline(
                [["open", sid, "w"], *(["put", k, v] for k, v in PAIRS.items()), ["close"]]
            )

        def by_command() -> None:
            with client.session(sid, mode="r") as s:
                s.get_all()
            with client.session(sid) as s:
                for k, v in PAIRS.items():
                    s.put(k, v)

        for name, cycle in (
            ("one command", one_command),
            ("pipelined", pipelined),
            ("command by command", by_command),
        ):
            results.append(ClientResult("SessionClient", name, _timed_sync(cycle, duration)))

    r = redis.Redis(port=redis_port)
    key = f"{prefix}_client_{secrets.token_hex(4)}:sess"
    try:

        def redis_pipelined() -> None:
            p = r.pipeline(transaction=False)
            p.hgetall(key)
            p.expire(key, 1440)
            p.execute()
            p = r.pipeline(transaction=False)
            p.hset(key, mapping=REDIS_PAIRS)
            p.expire(key, 1440)
            p.execute()

        def redis_by_command() -> None:
            r.hgetall(key)
            r.expire(key, 1440)
            r.hset(key, mapping=REDIS_PAIRS)
            r.expire(key, 1440)

        results.append(
            ClientResult("redis-py", "pipelined", _timed_sync(redis_pipelined, duration))
        )
        results.append(
            ClientResult("redis-py", "command by command", _timed_sync(redis_by_command, duration))
        )
    finally:
        r.delete(key)
        r.close()
    return results


async def _async_variants(
    url: str, redis_port: int, duration: float, tasks: int, prefix: str
) -> list[ClientResult]:
    import redis.asyncio as aredis

    from ..client import AsyncSessionClient

    results = []
    async with AsyncSessionClient(url, max_connections=tasks) as client:
        sids = [await client.create() for _ in range(tasks)]

        def one_command(sid: str) -> Callable[[], Awaitable[None]]:
            async def cycle() -> None:
                await client.read(sid)
                await client.write(sid, PAIRS)

            return cycle

        def pipelined(sid: str) -> Callable[[], Awaitable[None]]:
            read = [["open", sid, "r"], ["get_all"], ["close"]]
            write = [["open", sid, "w"], *(["put", k, v] for k, v in PAIRS.items()), ["close"]]

            async def cycle() -> None:
                await client.pipeline(read)
                await client.pipeline(write)

            return cycle

        def by_command(sid: str) -> Callable[[], Awaitable[None]]:
            async def cycle() -> None:
                async with client.session(sid, mode="r") as s:
                    await s.get_all()
                async with client.session(sid) as s:
                    for k, v in PAIRS.items():
                        await s.put(k, v)

            return cycle

        for name, make in (
            ("one command", one_command),
            ("pipelined", pipelined),
            ("command by command", by_command),
        ):
            rate = await _timed_async([make(sid) for sid in sids], duration)
            results.append(ClientResult("AsyncSessionClient", name, rate))

    r = aredis.Redis(port=redis_port, max_connections=tasks)
    unique = f"{prefix}_client_{secrets.token_hex(4)}"
    keys = [f"{unique}:sess:{i}" for i in range(tasks)]
    try:

        def redis_pipelined(key: str) -> Callable[[], Awaitable[None]]:
            async def cycle() -> None:
                p = r.pipeline(transaction=False)
                p.hgetall(key)
                p.expire(key, 1440)
                await p.execute()
                p = r.pipeline(transaction=False)
                p.hset(key, mapping=REDIS_PAIRS)
                p.expire(key, 1440)
                await p.execute()

            return cycle

        def redis_by_command(key: str) -> Callable[[], Awaitable[None]]:
            async def cycle() -> None:
                await r.hgetall(key)
                await r.expire(key, 1440)
                await r.hset(key, mapping=REDIS_PAIRS)
                await r.expire(key, 1440)

            return cycle

        for name, make_redis in (
            ("pipelined", redis_pipelined),
            ("command by command", redis_by_command),
        ):
            rate = await _timed_async([make_redis(key) for key in keys], duration)
            results.append(ClientResult("redis.asyncio", name, rate))
    finally:
        await r.delete(*keys)
        await r.aclose()
    return results


def run_client_bench(
    url: str, redis_port: int, duration: float, tasks: int, prefix: str = "ssbench"
) -> list[ClientResult]:
    results = _sync_variants(url, redis_port, duration, prefix)
    results += asyncio.run(_async_variants(url, redis_port, duration, tasks, prefix))
    return results
