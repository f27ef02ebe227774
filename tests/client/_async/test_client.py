"""The async client against a real daemon (the sync tests are generated from this file)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from sessionserver import AsyncSessionClient
from sessionserver.exceptions import (
    AuthenticationError,
    ConnectError,
    InvalidRequest,
    KeyNotFound,
    PayloadTooLarge,
    PoolTimeout,
    ReadOnlySession,
    ReadTimeout,
    SessionGone,
    SessionLocked,
    SessionNotFound,
)

from ...conftest import StartDaemon
from ...helpers import Daemon
from ..conftest import url

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(memory_daemon: Daemon) -> AsyncIterator[AsyncSessionClient]:
    async with AsyncSessionClient(url(memory_daemon)) as c:
        yield c


async def test_create_read_write_destroy(client: AsyncSessionClient) -> None:
    sid = await client.create({"user": "42", "bin": b"\x00\r\n\xff"})
    assert len(sid) == 32
    assert await client.read(sid) == {"user": b"42", "bin": b"\x00\r\n\xff"}
    await client.write(sid, {"cart": "3", "user": b"43"}, removed=["bin"])
    assert await client.read(sid) == {"user": b"43", "cart": b"3"}
    await client.write(sid)  # nothing to change: still a valid access
    await client.destroy(sid)
    await client.destroy(sid)  # already gone: fine
    with pytest.raises(SessionNotFound):
        await client.read(sid)
    with pytest.raises(SessionNotFound):
        await client.write(sid, {"late": "1"})


async def test_session_saves_on_exit_and_aborts_on_error(client: AsyncSessionClient) -> None:
    async with client.session() as s:
        await s.put("a", "1")
        sid = s.id
    assert await client.read(sid) == {"a": b"1"}
    with pytest.raises(RuntimeError, match="boom"):
        async with client.session(sid) as s:
            await s.put("b", "2")
            raise RuntimeError("boom")
    assert await client.read(sid) == {"a": b"1"}
    assert "busy=0" in repr(client.pool)  # the connection went back despite the error
    async with client.session(sid, mode="r") as s:  # and it is not locked any more
        assert await s.get("a") == b"1"


async def test_every_session_command(client: AsyncSessionClient) -> None:
    sid = await client.create({"a": "1"})
    async with client.session(sid) as s:
        assert await s.get("a") == b"1"
        assert await s.exists("a") and not await s.exists("zz")
        await s.put("b", "two words")
        assert await s.keys() == ["a", "b"]
        assert await s.get_all() == {"a": b"1", "b": b"two words"}
        await s.remove("a")
        with pytest.raises(KeyNotFound):
            await s.remove("a")
        with pytest.raises(KeyNotFound):
            await s.get("a")
        await s.put_all({"x": "1", "y": b"2"})
        assert await s.ttl() == 1440
        await s.set_ttl(600)
        assert await s.ttl() == 600
        old = s.id
        new = await s.regenerate_id()
        assert new != old and s.id == new
        await s.commit()
        with pytest.raises(ReadOnlySession):
            await s.put("z", "3")
    with pytest.raises(SessionNotFound):
        await client.read(old)
    assert await client.read(new) == {"x": b"1", "y": b"2"}
    async with client.session(new) as s:
        await s.destroy()
    with pytest.raises(SessionNotFound):
        await client.read(new)
    async with client.session(await client.create()) as s:
        await s.put("never", "saved")
        await s.abort()


async def test_admin_commands(client: AsyncSessionClient) -> None:
    assert await client.ping()
    hello = await client.hello()
    assert hello["server"] == "sessionserver" and hello["proto"] == "2"
    sid = await client.create({"k": "v"})
    assert await client.peek(sid) == {"k": b"v"}
    assert 1430 < await client.expires(sid) <= 1440
    assert sid in [s async for s in client.iter_sessions(page=2)]
    _, page = await client.sessions(0, 1)
    assert len(page) == 1
    stats = await client.stats()
    assert stats["storage"] == "memory" and int(stats["sessions"]) >= 1
    assert await client.gc(100_000) == 0
    await client.touch(sid, ttl=50)
    assert await client.expires(sid) == 50
    assert await client.execute("expires", sid) == 50
    replies = await client.pipeline(
        [["read", sid], ["read", "nope-nope-nope"]], raise_on_error=False
    )
    assert replies[0] == [b"k", b"v"] and isinstance(replies[1], SessionNotFound)
    with pytest.raises(SessionNotFound):
        await client.pipeline([["read", "nope-nope-nope"]])
    with pytest.raises(SessionNotFound):
        await client.touch("nope-nope-nope")


async def test_errors_map_to_their_classes(small_daemon: Daemon) -> None:
    async with AsyncSessionClient(url(small_daemon, timeout=10)) as c:
        sid = await c.create({"a": "1"})
        with pytest.raises(PayloadTooLarge):
            await c.write(sid, {"big": "x" * 17})
        with pytest.raises(PayloadTooLarge):
            await c.create({str(i): "v" for i in range(5)})
        with pytest.raises(InvalidRequest):
            await c.write(sid, {"a b": "1"})
        with pytest.raises(InvalidRequest):
            await c.execute("bogus")
        async with c.session(sid) as holder:
            await holder.put("held", "1")
            with pytest.raises(SessionLocked):  # --lock-timeout 0.5
                await c.write(sid, {"b": "2"})
            await c.destroy(sid)
            with pytest.raises(SessionGone):
                await holder.close()
        assert await c.ping()  # error replies left every connection usable


async def test_a_slow_reply_times_out_and_the_connection_is_dropped(small_daemon: Daemon) -> None:
    async with AsyncSessionClient(url(small_daemon, timeout=0.2)) as c:
        sid = await c.create()
        async with AsyncSessionClient(url(small_daemon)) as other, other.session(sid):
            with pytest.raises(ReadTimeout):
                await c.write(sid, {"x": "1"})  # waits for the lock longer than 0.2 s
            assert "idle=0 busy=0" in repr(c.pool)  # not returned with a reply pending
        await c.write(sid, {"x": "1"})
        assert await c.read(sid) == {"x": b"1"}


async def test_pool_exhaustion(memory_daemon: Daemon) -> None:
    async with AsyncSessionClient(url(memory_daemon, max_connections=1, pool_timeout=0.2)) as c:
        sid = await c.create()
        async with c.session(sid, mode="r"):
            assert "busy=1" in repr(c.pool) and "max=1" in repr(c.pool)
            with pytest.raises(PoolTimeout):
                await c.read(sid)
        assert await c.read(sid) == {}
        assert repr(c.pool).endswith("idle=1 busy=0 waiting=0 max=1>")


async def test_a_daemon_restart_is_transparent(start_daemon: StartDaemon, tmp_path) -> None:
    data = str(tmp_path / "state")
    first = start_daemon("--data-dir", data)
    port = first.port
    async with AsyncSessionClient(f"sessionserver://127.0.0.1:{port}") as c:
        sid = await c.create({"k": "v"})
        assert await c.read(sid) == {"k": b"v"}
        first.stop()
        start_daemon("--data-dir", data, "--port", str(port))
        assert await c.read(sid) == {"k": b"v"}  # the stale pooled connection is replaced
        await c.write(sid, {"k": "w"})
        assert await c.read(sid) == {"k": b"w"}


async def test_failover_to_the_next_host(start_daemon: StartDaemon) -> None:
    live = start_daemon("--storage", "memory://")
    async with AsyncSessionClient(f"sessionserver://127.0.0.1:1,127.0.0.1:{live.port}") as c:
        sid = await c.create({"k": "v"})
        assert await c.read(sid) == {"k": b"v"}


async def test_no_server_is_a_clear_connect_error() -> None:
    async with AsyncSessionClient("sessionserver://127.0.0.1:1,127.0.0.1:2") as c:
        with pytest.raises(ConnectError, match=r"127\.0\.0\.1:1.*127\.0\.0\.1:2"):
            await c.ping()


async def test_a_host_that_never_accepts_is_bounded_by_connect_timeout() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        # Fill the accept queue: the kernel drops further connection attempts unanswered.
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        try:
            url = f"sessionserver://127.0.0.1:{port}?connect_timeout=0.3"
            async with AsyncSessionClient(url) as c:
                with pytest.raises(ConnectError, match=r"took longer than 0\.3 s"):
                    await c.ping()
        finally:
            for filler in fillers:
                filler.close()


async def test_token(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", env={"SESSIONSERVER_AUTH_TOKEN": "s3cret"})
    async with AsyncSessionClient(f"sessionserver://:s3cret@127.0.0.1:{daemon.port}") as c:
        assert await c.ping()
        assert "s3cret" not in repr(c) and "s3cret" not in repr(c.config)
    async with AsyncSessionClient(f"sessionserver://:wrong@127.0.0.1:{daemon.port}") as c:
        with pytest.raises(AuthenticationError):
            await c.ping()
    async with AsyncSessionClient(f"sessionserver://127.0.0.1:{daemon.port}") as c:
        with pytest.raises(AuthenticationError):
            await c.create()


async def test_closing_the_client_while_a_session_is_open(memory_daemon: Daemon) -> None:
    client = AsyncSessionClient(url(memory_daemon, max_connections=1, pool_timeout=1))
    sid = await client.create()
    async with client.session(sid) as s:
        await client.aclose()  # the open session keeps its connection until it is done
        await s.put("k", "v")
    assert "idle=0 busy=0" in repr(client.pool)  # closed on return, its slot given back
    assert await client.read(sid) == {"k": b"v"}  # and the client reconnects
    await client.aclose()


async def test_ttl_regenerate_and_save(client: AsyncSessionClient) -> None:
    sid = await client.create({"a": "1"}, ttl=120)
    assert await client.expires(sid) == 120
    await client.write(sid, {"b": "2"}, ttl=300)
    assert await client.expires(sid) == 300
    new = await client.regenerate(sid, {"c": "3"}, removed=["a", "missing"], ttl=60)
    assert new != sid
    with pytest.raises(SessionNotFound):
        await client.read(sid)
    assert await client.read(new) == {"b": b"2", "c": b"3"}
    assert await client.expires(new) == 60
    with pytest.raises(SessionNotFound):
        await client.regenerate(sid)
    async with client.session(new) as s:
        await s.save({"d": "4"}, removed=["b", "missing"], ttl=90)
    assert await client.read(new) == {"c": b"3", "d": b"4"}
    assert await client.expires(new) == 90


async def test_log_out_everywhere(client: AsyncSessionClient) -> None:
    phone = await client.create({"_user_id": '"u-7"'})
    laptop = await client.create({"_auth_user_id": '"u-7"'})
    other = await client.create({"_user_id": '"u-8"'})
    anonymous = await client.create({"cart": "1"})
    assert await client.user_sessions("u-7") == sorted([phone, laptop])
    await client.write(anonymous, {"_user_id": '"u-7"'})  # logs in later
    assert anonymous in await client.user_sessions("u-7")
    assert await client.destroy_user("u-7", keep=laptop) == 2
    assert await client.user_sessions("u-7") == [laptop]
    with pytest.raises(SessionNotFound):
        await client.read(phone)
    assert await client.read(other) == {"_user_id": b'"u-8"'}
    new = await client.regenerate(laptop)
    assert await client.user_sessions("u-7") == [new]
    await client.destroy(new)
    assert await client.user_sessions("u-7") == []
