"""What only the async client has to get right: cancellation and event loops (asyncio and
trio, through anyio)."""

from __future__ import annotations

import asyncio

import anyio
import pytest
import trio

from sessionserver import AsyncSessionClient

from ..conftest import StartDaemon
from ..helpers import Daemon
from .conftest import url

pytestmark = pytest.mark.anyio


async def test_a_cancelled_call_never_poisons_the_pool(small_daemon: Daemon) -> None:
    async with AsyncSessionClient(url(small_daemon)) as c:
        sid = await c.create({"k": "v"})
        other = await c.create({"other": "1"})
        async with AsyncSessionClient(url(small_daemon)) as holder, holder.session(sid):
            waiting = anyio.Event()
            async with anyio.create_task_group() as tg:

                async def late_write() -> None:
                    waiting.set()
                    await c.write(sid, {"k": "late"})  # waits for the lock: never answered

                tg.start_soon(late_write)
                await waiting.wait()
                await anyio.wait_all_tasks_blocked()  # the write is out, its reply is not
                assert "busy=1" in repr(c.pool)
                tg.cancel_scope.cancel()
            # Had the connection gone back, this read would get the write's reply.
            assert await c.read(other) == {"other": b"1"}
        # The write was on the wire: the daemon runs it if the lock comes free before it sees
        # the disconnect, as with any request a client gives up on.  Either way it is whole.
        assert await c.read(sid) in ({"k": b"v"}, {"k": b"late"})
        assert "busy=0" in repr(c.pool)


async def test_a_deadline_from_the_caller_cancels_cleanly(small_daemon: Daemon) -> None:
    async with AsyncSessionClient(url(small_daemon)) as c:
        sid = await c.create()
        async with AsyncSessionClient(url(small_daemon)) as holder, holder.session(sid):
            with anyio.move_on_after(0.1) as scope:
                await c.write(sid, {"k": "late"})
            assert scope.cancelled_caught
            assert "idle=0 busy=0" in repr(c.pool)  # closed, not returned mid-exchange
        assert await c.read(sid) in ({}, {"k": b"late"})  # see above


async def test_a_pooled_connection_the_daemon_closed_is_not_used(
    start_daemon: StartDaemon,
) -> None:
    """A ``create`` is not retried (twice would make two sessions), so the pool must find out
    that the daemon closed an idle connection before lending it: on asyncio from the loop's
    own watch of the socket, elsewhere by asking the socket."""
    daemon = start_daemon("--storage", "memory://", "--idle-timeout", "0.3")
    async with AsyncSessionClient(url(daemon)) as c:
        sid = await c.create({"k": "v"})
        (idle,) = c.pool._idle
        with anyio.fail_after(10):
            # the daemon's close, as the loop sees it (no event to wait on: another process)
            while not idle.stream.pending():  # noqa: ASYNC110
                await anyio.sleep(0.01)
        other = await c.create({"k": "again"})  # on a new connection
        assert await c.read(other) == {"k": b"again"} and other != sid
        assert idle not in c.pool._idle


def test_one_client_used_from_successive_event_loops_of_both_libraries(
    memory_daemon: Daemon,
) -> None:
    client = AsyncSessionClient(url(memory_daemon))

    async def use() -> bytes:
        sid = await client.create({"n": "1"})
        return (await client.read(sid))["n"]  # the pooled connection stays open

    assert asyncio.run(use()) == b"1"
    assert trio.run(use) == b"1"  # the asyncio loop's connection is dropped, not reused
    assert asyncio.run(use()) == b"1"
    assert "idle=1" in repr(client.pool)
