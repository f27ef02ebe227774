"""What only the async client has to get right: cancellation and event loops."""

from __future__ import annotations

import asyncio

import pytest

from sessionserver import AsyncSessionClient

from ..helpers import Daemon
from .conftest import url


def test_a_cancelled_call_never_poisons_the_pool(small_daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncSessionClient(url(small_daemon)) as c:
            sid = await c.create({"k": "v"})
            other = await c.create({"other": "1"})
            async with AsyncSessionClient(url(small_daemon)) as holder, holder.session(sid):
                # This write waits for the lock; cancel it while its reply is outstanding.
                task = asyncio.create_task(c.write(sid, {"k": "late"}))
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                # Had the connection gone back, this read would get the write's reply.
                assert await c.read(other) == {"other": b"1"}
            assert await c.read(sid) == {"k": b"v"}
            assert "busy=0" in repr(c.pool)

    asyncio.run(main())


def test_one_client_used_from_successive_event_loops(memory_daemon: Daemon) -> None:
    client = AsyncSessionClient(url(memory_daemon))

    async def use() -> bytes:
        sid = await client.create({"n": "1"})
        try:
            return (await client.read(sid))["n"]
        finally:
            await client.aclose()  # before the loop ends: a closed loop cannot close sockets

    assert asyncio.run(use()) == b"1"
    assert asyncio.run(use()) == b"1"  # a new loop, the same client
