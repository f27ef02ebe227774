"""One command per request phase: read, write, create; and the admin reads."""

from __future__ import annotations

import threading

from ..conftest import StartDaemon
from ..helpers import Daemon, wait_until


def test_read_is_open_get_all_close(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.new_session(a="1", b="two")
        assert c.cmd(f"read {sid}") == 'ok a:2:{s:1:"a";s:1:"1";s:1:"b";s:3:"two";}'
        assert c.cmd("get a") == "err No session opened."  # it left nothing open
        assert c.cmd("read 0123456789abcdef0123456789abcdef") == "err Could not open session."
        assert c.cmd("read ../../etc/passwd") == "err Could not open session."


def test_write_sets_and_removes_atomically(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.new_session(keep="1", drop="2", change="3")
        payload = 'a:3:{s:6:"change";s:5:"x y z";s:3:"new";s:1:"4";s:4:"drop";N;}'
        assert c.cmd(f"write {sid} {payload}") == "ok"
        assert c.cmd(f"read {sid}") == (
            'ok a:3:{s:4:"keep";s:1:"1";s:6:"change";s:5:"x y z";s:3:"new";s:1:"4";}'
        )
        assert c.cmd(f'write {sid} a:1:{{s:3:"a|b";s:1:"1";}}') == "err Invalid key."
        assert c.cmd(f"write {sid} nonsense") == "err Malformed serialized data."
        assert c.cmd("write 0123456789abcdef0123456789abcdef a:0:{}") == (
            "err Could not open session."
        )


def test_write_waits_for_the_lock_and_never_resurrects(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as holder, memory_daemon.client() as c:
        sid = holder.new_session(n="0")
        assert holder.cmd(f"open {sid} w") == "ok"
        holder.cmd("put n 1")
        replies: list[str] = []
        t = threading.Thread(
            target=lambda: replies.append(c.cmd(f'write {sid} a:1:{{s:1:"m";s:1:"2";}}'))
        )
        t.start()
        memory_daemon.wait_for_lock_waiters(1)
        assert replies == []  # waiting for the holder
        assert holder.cmd("close") == "ok"
        t.join(5)
        assert replies == ["ok"]
        assert c.cmd(f"read {sid}") == 'ok a:2:{s:1:"n";s:1:"1";s:1:"m";s:1:"2";}'
        assert holder.cmd(f"open {sid} w") == "ok"
        assert holder.cmd("destroy") == "ok"
        assert c.cmd(f'write {sid} a:1:{{s:1:"m";s:1:"3";}}') == "err Could not open session."
        assert c.cmd(f"read {sid}") == "err Could not open session."


def test_write_refuses_the_session_open_on_the_same_connection(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd(f"write {sid} a:0:{{}}") == "err Session is open on this connection."
        assert c.cmd("close") == "ok"


def test_write_times_out_like_open(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as holder, memory_daemon.client() as c:
        sid = holder.new_session()
        assert holder.cmd(f"open {sid} w") == "ok"
        assert c.cmd(f"write {sid} a:0:{{}}") == "err Session is locked."  # --lock-timeout 1


def test_create_and_limits(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--max-keys", "2")
    with daemon.client() as c:
        reply = c.cmd('create a:2:{s:1:"a";s:1:"1";s:1:"b";N;}')
        assert reply.startswith("ok ") and len(reply) == 35
        assert c.cmd(f"read {reply[3:]}") == 'ok a:1:{s:1:"a";s:1:"1";}'
        assert c.cmd("create a:3:{i:0;i:0;i:1;i:1;i:2;i:2;}") == "err Too many keys."
        assert c.cmd("create").startswith("ok ")  # an empty session


def test_write_creates_an_unknown_id_only_when_client_ids_are_allowed(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon("--storage", "memory://", "--allow-client-ids")
    with daemon.client() as c:
        assert c.cmd('write php-chosen-id-123 a:1:{s:1:"a";s:1:"1";}') == "ok"
        assert c.cmd("read php-chosen-id-123") == 'ok a:1:{s:1:"a";s:1:"1";}'
        assert c.cmd("open another-id-456 w") == "ok"
        assert c.cmd("close") == "ok"
        assert c.cmd("read another-id-456") == "ok a:0:{}"


def test_abort_drops_changes_and_unlocks(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c, memory_daemon.client() as other:
        sid = c.new_session(a="1")
        assert c.cmd(f"open {sid} w") == "ok"
        c.cmd("put a 2")
        assert c.cmd("abort") == "ok"
        assert c.cmd("get a") == "err No session opened."
        assert other.cmd(f"open {sid} w") == "ok"  # not locked any more
        assert other.cmd("get a") == "ok 1"


def test_peek_expires_and_sessions_do_not_count_as_access(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--ttl", "100")
    with daemon.client() as c:
        ids = {c.new_session(n=str(i)) for i in range(5)}
        sid = next(iter(ids))
        wait_until(lambda: c.cmd(f"expires {sid}") == "ok 99", what="a second to pass")
        assert c.cmd(f"peek {sid}").startswith('ok a:1:{s:1:"n";')
        assert c.cmd(f"expires {sid}") in ("ok 99", "ok 98")  # peeking did not refresh it
        seen: set[str] = set()
        cursor = "0"
        while True:
            reply = c.cmd(f"sessions {cursor} 2")
            cursor, *page = reply[3:].split("|")
            seen.update(page)
            if cursor == "0":
                break
        assert seen == ids
        assert c.cmd("sessions x") == "err Invalid argument."


def test_the_user_index_follows_expiry_and_survives_a_restart(
    start_daemon: StartDaemon, tmp_path
) -> None:
    state = str(tmp_path / "state")
    daemon = start_daemon("--data-dir", state, "--ttl", "600")
    with daemon.client() as c:
        kept = c.cmd('create a:1:{s:8:"_user_id";s:3:""7"";}')[3:]
        short = c.cmd('create a:1:{s:13:"_auth_user_id";s:3:""7"";}')[3:]
        assert c.cmd(f"open {short} r") == "ok"
        assert c.cmd("ttl 1") == "ok"
        assert c.cmd("close") == "ok"
        assert sorted(c.cmd("user_sessions 7")[3:].split("|")) == sorted([kept, short])
        daemon.wait_until_gone(short)
        assert c.cmd("user_sessions 7") == f"ok {kept}"  # expiry cleaned the index
    daemon.stop()
    again = start_daemon("--data-dir", state, "--ttl", "600")
    with again.client() as c:
        assert c.cmd("user_sessions 7") == f"ok {kept}"  # rebuilt from the store
        assert c.cmd("destroy_user 7") == "ok 1"
        c.send("user_sessions 7\r\n")
        assert c.read_raw_line() == b"ok \r\n"


def test_the_user_index_can_be_turned_off(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--user-keys", "")
    with daemon.client() as c:
        c.cmd('create a:1:{s:8:"_user_id";s:3:""7"";}')
        c.send("user_sessions 7\r\n")
        assert c.read_raw_line() == b"ok \r\n"


def test_write_and_create_carry_an_idle_lifetime_in_the_text_framing(
    memory_daemon: Daemon,
) -> None:
    with memory_daemon.client() as c:
        sid = c.cmd('create 300 a:1:{s:1:"a";s:1:"1";}')[3:]
        assert c.cmd(f"expires {sid}") == "ok 300"
        assert c.cmd(f"read {sid}") == 'ok a:1:{s:1:"a";s:1:"1";}'
        assert c.cmd(f'write {sid} ttl 7200 a:1:{{s:1:"b";s:3:"x y";}}') == "ok"
        assert c.cmd(f"expires {sid}") == "ok 7200"
        assert c.cmd(f"read {sid}") == 'ok a:2:{s:1:"a";s:1:"1";s:1:"b";s:3:"x y";}'
        # a write without a lifetime keeps the one the session has
        assert c.cmd(f"write {sid} a:0:{{}}") == "ok"
        assert c.cmd(f"expires {sid}") == "ok 7200"
        empty = c.cmd("create 60")[3:]
        assert c.cmd(f"expires {empty}") == "ok 60"
        assert c.cmd(f"read {empty}") == "ok a:0:{}"
        assert c.cmd(f"write {sid} ttl 0 a:0:{{}}") == "err Invalid argument."
        assert c.cmd(f"write {sid} ttl x a:0:{{}}") == "err Invalid argument."
        assert c.cmd("create 0 a:0:{}") == "err Invalid argument."
        assert c.cmd(f"write {sid} ttl 5") == "ok"  # no changes: only the lifetime
        assert c.cmd(f"expires {sid}") == "ok 5"
        assert c.cmd("write 0123456789abcdef0123456789abcdef ttl 5 a:0:{}") == (
            "err Could not open session."
        )


def test_read_and_write_withttl_reply_the_seconds_left(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        sid = c.cmd('create 600 a:1:{s:1:"a";s:1:"1";}')[3:]
        assert c.cmd(f"read {sid} withttl") == 'ok 600 a:1:{s:1:"a";s:1:"1";}'
        assert c.cmd(f"read {sid} WITHTTL") == 'ok 600 a:1:{s:1:"a";s:1:"1";}'
        assert c.cmd(f'write {sid} withttl a:1:{{s:1:"b";s:1:"2";}}') == "ok 600"
        assert c.cmd(f"write {sid} ttl 90 withttl a:0:{{}}") == "ok 90"
        assert c.cmd(f"read {sid}") == 'ok a:2:{s:1:"a";s:1:"1";s:1:"b";s:1:"2";}'
        assert c.cmd(f"read {sid} other") == "err Invalid argument."
        assert c.cmd("read 0123456789abcdef0123456789abcdef withttl") == (
            "err Could not open session."
        )
        assert c.cmd("write 0123456789abcdef0123456789abcdef withttl a:0:{}") == (
            "err Could not open session."
        )
