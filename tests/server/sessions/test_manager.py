"""The session manager, in process, through both local strategies: modes, locks, commit,
expiry, ids, limits and the user index."""

from __future__ import annotations

import asyncio

import pytest

from sessionserver.protocol.replies import (
    GONE,
    LOCK_LOST,
    LOCKED,
    OPEN_FAILED,
    READ_ONLY,
    SESSION_OPEN_HERE,
    Err,
    Timed,
)
from sessionserver.server.sessions.limits import Limits
from sessionserver.server.sessions.state import READ, WRITE
from sessionserver.storage import StorageError

from .conftest import Kind, make_stack, settle

pytestmark = pytest.mark.anyio

KINDS = ["inline", "local"]


@pytest.mark.parametrize("kind", KINDS)
async def test_new_put_close_then_read(kind: Kind) -> None:
    s = make_stack(kind)
    m, st = s.manager, s.connection()
    sid = await settle(m.new(st))
    assert isinstance(sid, bytes) and len(sid) == 32
    assert (st.sid, st.mode, st.locked) == (sid, WRITE, sid)
    assert m.put(st, b"today", b"2004-11-09") is None
    assert await settle(m.finish(st, True)) is None
    assert (st.sid, st.locked) == (None, None) and not m.strategy.locks.held(sid)
    assert await settle(m.read(sid)) == {b"today": b"2004-11-09"}
    assert s.counters.sessions_created == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_reader_cannot_write_and_sees_the_last_commit(kind: Kind) -> None:
    s = make_stack(kind)
    m, writer, reader = s.manager, s.connection(), s.connection()
    sid = await settle(m.new(writer))
    assert m.put(writer, b"n", b"1") is None
    assert await settle(m.finish(writer, False)) is None  # commit: read-only from now on
    assert writer.mode == READ and writer.locked is None
    assert m.put(writer, b"n", b"2") is READ_ONLY
    assert await settle(m.open(writer, sid, WRITE)) is None
    assert m.put(writer, b"n", b"3") is None  # uncommitted
    assert await settle(m.open(reader, sid, READ)) is None
    assert reader.data == {b"n": b"1"}
    assert m.put(reader, b"x", b"y") is READ_ONLY
    m.abort(writer)  # the change is dropped
    assert await settle(m.read(sid)) == {b"n": b"1"}


@pytest.mark.parametrize("kind", KINDS)
async def test_writers_queue_in_arrival_order(kind: Kind) -> None:
    s = make_stack(kind)
    m = s.manager
    first, second, third = s.connection(), s.connection(), s.connection()
    sid = await settle(m.new(first))
    waits = [m.open(second, sid, WRITE), m.open(third, sid, WRITE)]
    assert all(isinstance(w, asyncio.Future) for w in waits)
    m.put(first, b"by", b"first")
    assert await settle(m.finish(first, True)) is None
    assert await settle(waits[0]) is None and not waits[1].done()
    assert second.data == {b"by": b"first"}
    m.put(second, b"by", b"second")
    assert await settle(m.finish(second, True)) is None
    assert await settle(waits[1]) is None
    assert third.data == {b"by": b"second"}
    m.disconnect(third)  # a dropped connection lets go of its lock
    assert not m.strategy.locks.held(sid)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_lock_wait_is_bounded(kind: Kind) -> None:
    s = make_stack(kind, lock_timeout=0.05)
    m, holder, waiter = s.manager, s.connection(), s.connection()
    sid = await settle(m.new(holder))
    assert await settle(m.open(waiter, sid, WRITE)) is LOCKED
    assert waiter.sid is None and waiter.locked is None
    assert await settle(m.write(waiter, sid, {b"a": b"1"}, [], None)) is LOCKED
    assert m.strategy.locks.timeouts_total == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_a_holder_past_its_lease_loses_the_lock_and_saves_nothing(kind: Kind) -> None:
    s = make_stack(kind, lock_lease=10)
    m, holder, next_ = s.manager, s.connection(), s.connection()
    sid = await settle(m.new(holder))
    m.put(holder, b"late", b"1")
    waiting = m.open(next_, sid, WRITE)
    s.clock.advance(11)
    await m.strategy.tick(s.clock())
    assert await settle(waiting) is None  # handed on
    assert m.put(holder, b"later", b"2") is LOCK_LOST
    assert await settle(m.finish(holder, True)) is LOCK_LOST
    assert next_.data == {}  # the late change never landed


@pytest.mark.parametrize("kind", KINDS)
async def test_destroy_is_final_and_regenerate_moves_the_data(kind: Kind) -> None:
    s = make_stack(kind)
    m, st, late = s.manager, s.connection(), s.connection()
    sid = await settle(m.new(st))
    m.put(st, b"k", b"v")
    assert await settle(m.finish(st, False)) is None
    assert await settle(m.open(st, sid, WRITE)) is None
    new = await settle(m.regenerate(st))
    assert isinstance(new, bytes) and new != sid and st.sid == new and st.locked == new
    assert await settle(m.read(sid)) is OPEN_FAILED
    assert await settle(m.finish(st, True)) is None
    assert await settle(m.read(new)) == {b"k": b"v"}
    assert await settle(m.open(late, new, WRITE)) is None
    m.put(late, b"after", b"destroy")
    assert await settle(m.open(st, new, READ)) is None
    assert await settle(m.destroy(st)) is None
    assert await settle(m.finish(late, True)) is GONE  # never brought back
    assert await settle(m.read(new)) is OPEN_FAILED


@pytest.mark.parametrize("kind", KINDS)
async def test_expiry_slides_and_is_judged_by_the_clock(kind: Kind) -> None:
    s = make_stack(kind, ttl=100)
    m, st = s.manager, s.connection()
    sid = await settle(m.create(st, {b"a": b"1"}, None))
    s.clock.advance(60)
    assert await settle(m.read(sid)) == {b"a": b"1"}  # an access: 100 s more
    s.clock.advance(60)
    assert await settle(m.admin.expires(sid)) == 40
    reply = await settle(m.read(sid, with_ttl=True))
    assert isinstance(reply, Timed) and reply.seconds == 100 and reply.value == {b"a": b"1"}
    s.clock.advance(100)
    assert await settle(m.read(sid)) is OPEN_FAILED
    assert await settle(m.open(st, sid, WRITE)) is OPEN_FAILED and st.locked is None


@pytest.mark.parametrize("kind", KINDS)
async def test_write_and_create_with_a_lifetime(kind: Kind) -> None:
    s = make_stack(kind, ttl=100)
    m, st = s.manager, s.connection()
    sid = await settle(m.create(st, {}, 500))
    assert await settle(m.admin.expires(sid)) == 500
    assert await settle(m.write(st, sid, {b"a": b"1"}, [], 50)) is None
    assert await settle(m.admin.expires(sid)) == 50
    reply = await settle(m.write(st, sid, {}, [b"a"], None, with_ttl=True))
    assert isinstance(reply, Timed) and reply.seconds == 50 and reply.value is None
    assert await settle(m.read(sid)) == {}


@pytest.mark.parametrize("kind", KINDS)
async def test_write_never_touches_the_session_open_here_and_never_creates(kind: Kind) -> None:
    s = make_stack(kind)
    m, st = s.manager, s.connection()
    sid = await settle(m.new(st))
    assert m.write(st, sid, {b"a": b"1"}, [], None) is SESSION_OPEN_HERE
    unknown = b"0123456789abcdef0123456789abcdef"
    assert await settle(m.write(st, unknown, {b"a": b"1"}, [], None)) is OPEN_FAILED
    assert await settle(m.read(unknown)) is OPEN_FAILED
    assert await settle(m.read(b"../../etc/passwd")) is OPEN_FAILED


@pytest.mark.parametrize("fails", ["at once", "later"])
async def test_a_lock_the_store_failed_to_take_leaves_the_connection_holding_nothing(
    fails: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that fails while ``open <id> w`` takes the lock (a stall past the timeout, a
    lost connection): the error reaches the client, and the connection is left as it was, so
    its next one-shot ``write`` of the id is not refused as open here."""
    s = make_stack("local")
    m, st = s.manager, s.connection()
    sid = await settle(m.new(st))
    assert await settle(m.finish(st, True)) is None

    def failing(owner: object, sid: bytes, now: float) -> object:
        if fails == "at once":
            raise StorageError("the store is down")
        future = asyncio.get_running_loop().create_future()
        future.set_exception(StorageError("the store is down"))
        return future

    with monkeypatch.context() as patch:
        patch.setattr(m.strategy, "lock", failing)
        with pytest.raises(StorageError):
            await settle(m.open(st, sid, WRITE))
    assert (st.sid, st.locked) == (None, None)
    assert await settle(m.write(st, sid, {b"a": b"1"}, [], None)) is None
    assert await settle(m.read(sid)) == {b"a": b"1"}


@pytest.mark.parametrize("kind", KINDS)
async def test_client_chosen_ids_only_when_allowed(kind: Kind) -> None:
    chosen = b"php-chosen-id-1234"
    for allowed in (False, True):
        s = make_stack(kind, allow_client_ids=allowed)
        m, st = s.manager, s.connection()
        opened = await settle(m.open(st, chosen, WRITE))
        assert opened is (None if allowed else OPEN_FAILED)
        if allowed:
            assert await settle(m.finish(st, True)) is None
            assert await settle(m.read(chosen)) == {}
        assert st.locked is None and not m.strategy.locks.held(chosen)


@pytest.mark.parametrize("kind", KINDS)
async def test_limits_refuse_and_change_nothing(kind: Kind) -> None:
    s = make_stack(kind, limits=Limits(max_value=4, max_keys=2, max_session=10))
    m, st = s.manager, s.connection()
    sid = await settle(m.create(st, {b"a": b"1"}, None))
    assert isinstance(await settle(m.write(st, sid, {b"b": b"12345"}, [], None)), Err)
    assert isinstance(await settle(m.write(st, sid, {b"b": b"1", b"c": b"2"}, [], None)), Err)
    assert isinstance(m.create(st, {b"a|": b"1"}, None), Err)
    assert await settle(m.read(sid)) == {b"a": b"1"}


@pytest.mark.parametrize("kind", KINDS)
async def test_the_user_index_follows_saves_renames_and_drops(kind: Kind) -> None:
    s = make_stack(kind)
    m, st = s.manager, s.connection()
    one = await settle(m.create(st, {b"_user_id": b'"7"'}, None))
    two = await settle(m.create(st, {b"_auth_user_id": b"7"}, None))
    other = await settle(m.create(st, {b"_user_id": b'"8"'}, None))
    assert sorted(await settle(m.user_sessions(b"7"))) == sorted([one, two])
    assert await settle(m.destroy_user(st, b"7", one)) == 1
    assert await settle(m.user_sessions(b"7")) == [one]
    assert await settle(m.user_sessions(b"8")) == [other]
    await settle(m.create(st, {b"_user_id": b'""'}, None))  # an empty user is no user
    assert await settle(m.user_sessions(b"")) == [] == await settle(m.user_sessions(b'""'))
