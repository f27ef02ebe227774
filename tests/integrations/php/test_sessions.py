"""Real ``session_start()`` pages under ``php -S`` against a real daemon: the session lifecycle,
PHP's locking, strict mode, regenerate, destroy and gc."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from sessionserver import SessionClient
from sessionserver.exceptions import SessionNotFound

from ...helpers import Daemon, wait_until
from .server import Gate, PhpServer, result

FORGED = "0123456789abcdef0123456789abcdef"


def cookie_of(response: httpx.Response) -> str | None:
    header: str | None = response.headers.get("set-cookie")
    if header is None:
        return None
    name, _, rest = header.partition("=")
    assert name == "PHPSESSID"
    return rest.split(";", 1)[0]


def stats(client: SessionClient) -> dict[str, int]:
    return {k: int(v) for k, v in client.stats().items() if v.isdigit()}


def test_a_session_lives_across_requests_and_python_reads_its_keys(
    php: PhpServer, client: SessionClient
) -> None:
    with php.browser() as browser:
        first = browser.get("/counter.php")
        sid = cookie_of(first)
        assert sid is not None and len(sid) == 32
        assert result(first) == {"started": True, "id": sid, "count": 1}
        for n in (2, 3):
            again = browser.get("/counter.php")
            assert cookie_of(again) is None  # an unchanged id's cookie is not re-sent
            assert result(again)["count"] == n
    assert client.read(sid) == {"count": b"3"}


def test_a_new_session_gets_php_s_lifetime_once(daemon: Daemon, tmp_path) -> None:
    address = f"{daemon.host}:{daemon.port}"
    ini = {"session.gc_maxlifetime": "600"}
    with PhpServer(tmp_path, address, ini=ini, workers=1) as php, php.browser() as browser:
        sid = result(browser.get("/counter.php"))["id"]
        with SessionClient(f"sessionserver://{address}") as client:
            assert 590 <= client.expires(sid) <= 600
            client.touch(sid, ttl=5000)  # given on purpose elsewhere (say, a Python app)
            assert result(browser.get("/counter.php"))["count"] == 2
            assert client.expires(sid) > 4900  # PHP's save kept it


def test_concurrent_requests_of_one_session_lose_no_increment(
    php: PhpServer, client: SessionClient
) -> None:
    with php.browser() as browser:
        sid = result(browser.get("/counter.php"))["id"]

    def bump(_: int) -> int:
        with php.browser(PHPSESSID=sid) as b:
            reply = result(b.get("/counter.php"))
            assert reply["id"] == sid and reply["started"] is True
            return int(reply["count"])

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(bump, range(40)))
    assert sorted(counts) == list(range(2, 42))  # each request saw every earlier one
    assert client.read(sid)["count"] == b"41"
    assert stats(client)["locks_held"] == 0


def test_a_request_holds_the_lock_from_session_start_to_its_save(
    php: PhpServer, client: SessionClient
) -> None:
    with php.browser() as browser:
        sid = result(browser.get("/counter.php"))["id"]
    waits = stats(client)["lock_waits_total"]
    with Gate() as gate, php.browser(PHPSESSID=sid) as a, php.browser(PHPSESSID=sid) as b:
        holder: list[httpx.Response] = []
        waiter: list[httpx.Response] = []
        ta = threading.Thread(target=lambda: holder.append(a.get(f"/counter.php?gate={gate.port}")))
        ta.start()
        at_gate = gate.arrival()  # A has started its session (count 1 -> 2) and holds the lock
        tb = threading.Thread(target=lambda: waiter.append(b.get("/counter.php")))
        tb.start()
        wait_until(lambda: stats(client)["lock_waiting"] == 1, what="B to queue for the lock")
        # read_and_close neither waits for the lock nor takes it: it sees the saved state.
        with php.browser(PHPSESSID=sid) as c:
            peeked = result(c.get("/peek.php"))
        assert peeked == {"started": True, "id": sid, "session": {"count": 1}}
        assert stats(client)["lock_waiting"] == 1
        gate.release(at_gate)
        ta.join(30)
        tb.join(30)
    assert result(holder[0])["count"] == 2
    assert result(waiter[0])["count"] == 3  # B read what A saved
    assert stats(client)["lock_waits_total"] == waits + 1


def test_session_abort_unlocks_and_saves_nothing(php: PhpServer, client: SessionClient) -> None:
    with php.browser() as browser:
        sid = result(browser.get("/counter.php"))["id"]
        assert result(browser.get("/abort.php")) == {"id": sid}
        assert stats(client)["locks_held"] == 0
        assert result(browser.get("/counter.php"))["count"] == 2


@pytest.mark.parametrize("forged", [FORGED, "abcdefgh", "bad..id!", ""])
def test_strict_mode_a_forged_id_is_never_adopted(
    php: PhpServer, client: SessionClient, forged: str
) -> None:
    created = stats(client)["sessions_created"]
    with php.browser(PHPSESSID=forged) as browser:
        response = browser.get("/counter.php")
    sid = cookie_of(response)
    assert sid is not None and sid != forged
    assert result(response) == {"started": True, "id": sid, "count": 1}
    assert client.read(sid) == {"count": b"1"}
    if forged:
        with pytest.raises(SessionNotFound):
            client.read(forged)
    assert stats(client)["sessions_created"] == created + 1


def test_regenerate_id_moves_the_data_and_destroys_the_old_id(
    php: PhpServer, client: SessionClient
) -> None:
    with php.browser() as browser:
        old = result(browser.get("/counter.php"))["id"]
        created = stats(client)["sessions_created"]
        response = browser.get("/regenerate.php?delete=1&user=bob")
        reply = result(response)
        new = reply["new"]
        assert reply == {"regenerated": True, "old": old, "new": new} and new != old
        assert cookie_of(response) == new
        # One session made: a server-issued id is never taken for a collision and retried.
        assert stats(client)["sessions_created"] == created + 1
        with pytest.raises(SessionNotFound):
            client.read(old)
        assert client.read(new) == {"count": b"1", "user": b'"bob"'}
        assert result(browser.get("/counter.php")) == {"started": True, "id": new, "count": 2}


def test_regenerate_id_without_delete_keeps_the_old_session(
    php: PhpServer, client: SessionClient
) -> None:
    with php.browser() as browser:
        old = result(browser.get("/counter.php"))["id"]
        new = result(browser.get("/regenerate.php?user=carol"))["new"]
    assert client.read(old) == {"count": b"1", "user": b'"carol"'}
    assert client.read(new) == {"count": b"1", "user": b'"carol"'}


def test_session_destroy_deletes_the_session(php: PhpServer, client: SessionClient) -> None:
    with php.browser() as browser:
        sid = result(browser.get("/counter.php"))["id"]
        assert result(browser.get("/destroy.php")) == {"destroyed": True, "id": sid}
        with pytest.raises(SessionNotFound):
            client.read(sid)
        # The stale cookie is not brought back to life: a fresh session starts.
        again = browser.get("/counter.php")
        assert cookie_of(again) not in (None, sid)
        assert result(again)["count"] == 1


def test_gc_leaves_expiry_to_the_server_unless_asked(
    php: PhpServer, daemon: Daemon, client: SessionClient, tmp_path
) -> None:
    # A Python app's long-lived session must not be cut to PHP's gc_maxlifetime.
    other = client.create({"cart": json.dumps(["apple"])}, ttl=86400)
    with php.browser() as browser:
        assert result(browser.get("/gc.php?max=0")) == {"deleted": 0}
    assert client.read(other) == {"cart": b'["apple"]'}

    address = f"{daemon.host}:{daemon.port}"
    with PhpServer(tmp_path, address, options={"gc": True}, workers=1) as gc_php:
        with gc_php.browser() as browser:
            deleted = result(browser.get("/gc.php?max=0"))["deleted"]
    assert deleted >= 1
    with pytest.raises(SessionNotFound):
        client.read(other)


def test_commands_sent_per_request_type(php: PhpServer, client: SessionClient) -> None:
    def sent(path: str, body: dict[str, int] | None = None) -> int:
        before = int(client.stats()["commands_total"])
        result(browser.post(path, json=body) if body is not None else browser.get(path))
        return int(client.stats()["commands_total"]) - before - 1  # the second stats counts

    with php.browser() as browser:
        assert sent("/counter.php") == 4  # new + ttl (one write), then put, close
        assert sent("/counter.php") == 4  # open w + get_all (one write), then put, close
        assert sent("/set.php", {}) == 3  # unchanged: open w + get_all, then close
        assert sent("/set.php", {"a": 1, "b": 2}) == 5  # only the two changed keys
        assert sent("/set.php?remove=a", {"b": 2}) == 4  # and the removed one
        assert sent("/peek.php") == 1  # read_and_close: one read


def test_session_reset_rereads_the_stored_session(php: PhpServer, client: SessionClient) -> None:
    with php.browser() as browser:
        sid = result(browser.get("/counter.php"))["id"]
        assert result(browser.get("/reset.php")) == {"id": sid, "session": {"count": 1}}
    assert client.read(sid) == {"count": b"1"}


def test_session_create_id_in_an_active_session(php: PhpServer, client: SessionClient) -> None:
    with php.browser() as browser:
        sid = result(browser.get("/counter.php"))["id"]
        reply = result(browser.get("/create_id.php"))
        new = reply["new"]
        assert reply["old"] == sid and reply["asked"] == new != sid
        assert reply["session"] == {"moved_from": sid}  # a new session starts empty
        assert client.read(sid) == {"count": b"1", "moved": b"true"}
        assert client.read(new) == {"moved_from": json.dumps(sid).encode()}
        assert result(browser.get("/counter.php")) == {"started": True, "id": new, "count": 1}


def test_without_strict_mode_an_unknown_id_fails_and_is_not_adopted(
    php: PhpServer, client: SessionClient
) -> None:
    created = stats(client)["sessions_created"]
    with php.browser(PHPSESSID=FORGED) as browser:
        response = browser.get("/lax.php")
    assert "SessionServerHandler: the server does not know the session id" in response.text
    assert result(response) == {"started": False, "id": ""}
    assert stats(client)["sessions_created"] == created
    with pytest.raises(SessionNotFound):
        client.read(FORGED)
