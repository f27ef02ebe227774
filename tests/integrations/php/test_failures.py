"""What a PHP page sees when things go wrong: warnings and false returns, never a fatal error,
and nothing half-saved."""

from __future__ import annotations

import subprocess
import threading

import httpx
import pytest

from sessionserver import SessionClient

from ...conftest import StartDaemon
from ...helpers import wait_until
from .server import HANDLER, Gate, PhpServer, result

TOKEN = "s3cret-t0ken-for-php"


def assert_no_fatal(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    for sign in ("Fatal error", "Stack trace", "Uncaught"):
        assert sign not in response.text, response.text


def test_a_daemon_that_is_down_is_a_warning_and_a_false_session_start(
    start_daemon: StartDaemon, tmp_path
) -> None:
    daemon = start_daemon("--storage", "memory://")
    address = f"{daemon.host}:{daemon.port}"
    daemon.stop()
    with PhpServer(tmp_path, address, workers=1) as php, php.browser() as browser:
        response = browser.get("/counter.php")
    assert_no_fatal(response)
    assert f"Warning: SessionServerHandler: cannot connect to {address}" in response.text
    assert "Failed to initialize storage module" in response.text
    assert result(response)["started"] is False


def test_the_daemon_going_away_mid_request(start_daemon: StartDaemon, tmp_path) -> None:
    daemon = start_daemon("--storage", "memory://")
    address = f"{daemon.host}:{daemon.port}"
    with PhpServer(tmp_path, address, workers=1) as php, Gate() as gate:
        with php.browser() as browser:
            replies: list[httpx.Response] = []
            page = threading.Thread(
                target=lambda: replies.append(browser.get(f"/outage.php?gate={gate.port}"))
            )
            page.start()
            at_gate = gate.arrival()
            daemon.stop()
            gate.release(at_gate)
            page.join(30)
    response = replies[0]
    assert_no_fatal(response)
    assert f"SessionServerHandler: {address} closed the connection" in response.text
    assert "Failed to write session data" in response.text
    # session_write_close() answers true whatever the handler says; the warnings tell.
    assert result(response) == {"saved": True, "again": False, "regenerated": False, "end": True}


def test_a_token_is_sent_and_never_shown(start_daemon: StartDaemon, tmp_path) -> None:
    daemon = start_daemon("--storage", "memory://", "--auth-token", TOKEN)
    address = f"{daemon.host}:{daemon.port}"
    with PhpServer(tmp_path, address, options={"token": TOKEN}, workers=1) as php:
        with php.browser() as browser:
            assert result(browser.get("/counter.php"))["count"] == 1
            assert result(browser.get("/counter.php"))["count"] == 2
            dumped = browser.get("/dump.php")
    assert_no_fatal(dumped)
    assert TOKEN not in dumped.text and "***" in dumped.text and address in dumped.text


def test_a_wrong_token_is_a_warning(start_daemon: StartDaemon, tmp_path) -> None:
    daemon = start_daemon("--storage", "memory://", "--auth-token", TOKEN)
    address = f"{daemon.host}:{daemon.port}"
    with PhpServer(tmp_path, address, options={"token": "wrong"}, workers=1) as php:
        with php.browser() as browser:
            response = browser.get("/counter.php")
    assert_no_fatal(response)
    assert "SessionServerHandler: Invalid token." in response.text
    assert "wrong" not in response.text.replace("Invalid token", "")
    assert result(response)["started"] is False


def test_a_lock_wait_that_times_out_is_a_warning(start_daemon: StartDaemon, tmp_path) -> None:
    daemon = start_daemon("--storage", "memory://", "--lock-timeout", "1")
    address = f"{daemon.host}:{daemon.port}"
    with PhpServer(tmp_path, address, workers=2) as php, Gate() as gate:
        with php.browser() as a:
            sid = result(a.get("/counter.php"))["id"]
            replies: list[httpx.Response] = []
            holder = threading.Thread(
                target=lambda: replies.append(a.get(f"/counter.php?gate={gate.port}"))
            )
            holder.start()
            at_gate = gate.arrival()
            with php.browser(PHPSESSID=sid) as b:
                waiter = b.get("/counter.php")
            gate.release(at_gate)
            holder.join(30)
    assert_no_fatal(waiter)
    assert "SessionServerHandler: Session is locked." in waiter.text
    assert result(waiter)["started"] is False
    assert result(replies[0])["count"] == 2


def test_a_lock_held_past_its_lease_saves_nothing(start_daemon: StartDaemon, tmp_path) -> None:
    daemon = start_daemon("--storage", "memory://", "--lock-lease", "1")
    address = f"{daemon.host}:{daemon.port}"
    with SessionClient(f"sessionserver://{address}") as client:
        with PhpServer(tmp_path, address, workers=1) as php, Gate() as gate:
            with php.browser() as browser:
                sid = result(browser.get("/counter.php"))["id"]
                replies: list[httpx.Response] = []
                page = threading.Thread(
                    target=lambda: replies.append(browser.get(f"/counter.php?gate={gate.port}"))
                )
                page.start()
                at_gate = gate.arrival()
                wait_until(
                    lambda: client.stats()["lock_leases_expired_total"] != "0",
                    timeout=20,
                    what="the held lock's lease to expire",
                )
                gate.release(at_gate)
                page.join(30)
        assert client.read(sid) == {"count": b"1"}
        assert client.stats()["locks_held"] == "0"
    assert_no_fatal(replies[0])
    assert "SessionServerHandler: Lock lost: the lease expired." in replies[0].text
    assert "Failed to write session data" in replies[0].text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("object=1", "an object of class ArrayObject has no JSON form"),
        ("binary=1", "Malformed UTF-8 characters"),
        ("inf=1", "Inf and NaN cannot be JSON encoded"),
    ],
)
def test_a_value_without_a_json_form_saves_nothing(
    php: PhpServer, client: SessionClient, query: str, message: str
) -> None:
    with php.browser() as browser:
        sid = result(browser.post("/set.php", json={"keep": 1}))["id"]
        response = browser.post(f"/set.php?{query}", json={"keep": 2})
    assert_no_fatal(response)
    assert f"SessionServerHandler: cannot save $_SESSION['{query.split('=')[0]}']: {message}" in (
        response.text
    )
    assert "Failed to write session data" in response.text
    assert client.read(sid) == {"keep": b"1"}  # the whole save was refused, nothing half-done
    assert client.stats()["locks_held"] == "0"


def test_a_key_the_server_refuses_saves_nothing(php: PhpServer, client: SessionClient) -> None:
    with php.browser() as browser:
        sid = result(browser.post("/set.php", json={"keep": 1}))["id"]
        response = browser.post("/set.php", json={"keep": 2, "a key": 3, "new": 4})
    assert_no_fatal(response)
    assert "SessionServerHandler: Invalid key." in response.text
    assert "Failed to write session data" in response.text
    assert client.read(sid) == {"keep": b"1"}
    assert client.stats()["locks_held"] == "0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("'127.0.0.1:9090:1'", "not a host:port address: 127.0.0.1:9090:1"),
        ("'http://host:1'", "not a host:port address: http://host:1"),
        ("'h:1', ['tiemout' => 1]", "unknown option: tiemout"),
    ],
)
def test_a_bad_address_or_option_is_refused_when_constructed(args: str, message: str) -> None:
    code = f"require '{HANDLER}';"
    code += f"try {{ new SessionServerHandler({args}); }} catch (InvalidArgumentException $e) "
    code += "{ echo $e->getMessage(); }"
    done = subprocess.run(["php", "-r", code], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, message, "")
