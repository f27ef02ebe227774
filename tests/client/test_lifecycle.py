"""Pooled sockets are closed when a client is closed or collected: no socket stays open, and no
``ResourceWarning: unclosed socket`` ever surfaces (Flask's suite runs with ``-W error``)."""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio

from sessionserver import AsyncSessionClient, SessionClient

from ..helpers import Daemon
from .conftest import url


def connections_to(daemon: Daemon) -> int:
    """This process's open TCP connections to the daemon (event loops have sockets too)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the fd of the listing itself, closed meanwhile
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == daemon.port and fields[9] in inodes:
                    count += 1
    return count


@contextmanager
def no_resource_warning() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("cycle", [False, True], ids=["dropped", "in-a-cycle"])
def test_a_sync_client_dropped_without_close(memory_daemon: Daemon, cycle: bool) -> None:
    before = connections_to(memory_daemon)
    with no_resource_warning():
        client = SessionClient(url(memory_daemon))
        sid = client.create({"k": "v"})
        with client.session(sid):  # a second pooled connection
            assert client.read(sid) == {"k": b"v"}
        assert connections_to(memory_daemon) == before + 2
        if cycle:
            client.itself = client  # type: ignore[attr-defined]
        del client
    assert connections_to(memory_daemon) == before


def test_closing_a_sync_client_closes_its_sockets(memory_daemon: Daemon) -> None:
    before = connections_to(memory_daemon)
    with no_resource_warning():
        client = SessionClient(url(memory_daemon))
        client.ping()
        client.close()
        assert connections_to(memory_daemon) == before
        client.ping()  # usable again: it reconnects
        assert connections_to(memory_daemon) == before + 1
        client.close()
    assert connections_to(memory_daemon) == before


@pytest.mark.parametrize("cycle", [False, True], ids=["dropped", "in-a-cycle"])
@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_an_async_client_dropped_without_close(
    memory_daemon: Daemon, library: str, cycle: bool
) -> None:
    before = connections_to(memory_daemon)

    async def main() -> None:
        client = AsyncSessionClient(url(memory_daemon))
        sid = await client.create({"k": "v"})
        async with client.session(sid):
            assert await client.read(sid) == {"k": b"v"}
        assert connections_to(memory_daemon) == before + 2
        if cycle:
            client.itself = client  # type: ignore[attr-defined]
        del client
        gc.collect()  # inside the loop, which goes on running
        assert connections_to(memory_daemon) == before
        # The loop still works, and a new client gets the file descriptors just freed.
        async with AsyncSessionClient(url(memory_daemon)) as other:
            assert await other.read(sid) == {"k": b"v"}

    with no_resource_warning():
        asyncio.run(main()) if library == "asyncio" else trio.run(main)
    assert connections_to(memory_daemon) == before


@pytest.mark.parametrize("library", ["asyncio", "trio"])
def test_an_async_client_outliving_its_event_loop(memory_daemon: Daemon, library: str) -> None:
    before = connections_to(memory_daemon)
    clients = [AsyncSessionClient(url(memory_daemon))]

    async def main() -> None:
        assert await clients[0].ping()

    with no_resource_warning():
        asyncio.run(main()) if library == "asyncio" else trio.run(main)
        # The loop is gone, the client and its pooled connection are not.
        assert connections_to(memory_daemon) == before + 1
        clients.clear()
    assert connections_to(memory_daemon) == before
