"""Roles and tokens: an app token does what a web request needs, the admin token the rest; a
guessing client is cut off after five tries; before auth only small requests are parsed."""

from __future__ import annotations

import pytest
import redis

from sessionserver import SessionClient
from sessionserver.exceptions import AuthenticationError

from ..conftest import StartDaemon
from ..helpers import Daemon
from .attack import raw, until, until_closed

APP, ADMIN = "app-token-0123456789", "admin-token-0123456789"
ADMIN_ONLY = ["sessions", "peek {sid}", "expires {sid}", "gc 0"]


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> Daemon:
    return start_daemon(
        "--storage",
        "memory://",
        env={"SESSIONSERVER_AUTH_TOKEN": APP, "SESSIONSERVER_ADMIN_TOKEN": ADMIN},
    )


def test_the_app_role_does_what_a_web_request_needs_and_no_more(daemon: Daemon) -> None:
    with daemon.client() as c:
        assert c.cmd("new") == "err Authentication required."
        assert c.cmd(f"auth {APP}") == "ok"
        sid = c.cmd("new")[3:]
        assert c.cmd("put _user_id 7") == "ok"
        assert c.cmd("close") == "ok"
        assert c.cmd(f"read {sid}").startswith("ok a:1:")
        assert c.cmd(f'write {sid} a:1:{{s:1:"k";s:1:"v";}}') == "ok"
        assert c.cmd("create").startswith("ok ")
        assert c.cmd("user_sessions 7") == f"ok {sid}"
        assert c.cmd("stats").startswith("ok uptime=")
        for line in ADMIN_ONLY:
            assert c.cmd(line.format(sid=sid)) == "err Admin token required."
        assert c.cmd(f"open {sid} r") == "ok"  # still there: gc 0 was refused
        assert c.cmd("close") == "ok"
        assert c.cmd("destroy_user 7") == "ok 1"
        # The admin token on the same connection gives the admin role.
        assert c.cmd(f"auth {ADMIN}") == "ok"
        assert c.cmd("sessions").startswith("ok 0|")
        assert c.cmd("gc 0").startswith("ok ")


def test_the_admin_role_over_resp2_and_the_clients(daemon: Daemon) -> None:
    app = redis.Redis(host=daemon.host, port=daemon.port, password=APP, protocol=2)
    admin = redis.Redis(host=daemon.host, port=daemon.port, password=ADMIN, protocol=2)
    try:
        sid = app.execute_command("create", "k", "v")
        with pytest.raises(redis.exceptions.NoPermissionError, match="Admin token required"):
            app.execute_command("peek", sid)
        assert admin.execute_command("peek", sid) == [b"k", b"v"]
    finally:
        app.close()
        admin.close()
    url = f"sessionserver://:{APP}@{daemon.host}:{daemon.port}"
    with SessionClient(url) as client:
        sid2 = client.create({"a": "1"})
        with pytest.raises(AuthenticationError, match="Admin token required"):
            client.execute("peek", sid2)


def test_without_an_admin_token_the_auth_token_is_admin(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", env={"SESSIONSERVER_AUTH_TOKEN": APP})
    with daemon.client() as c:
        assert c.cmd(f"auth {APP}") == "ok"
        assert c.cmd("sessions").startswith("ok 0")


def test_an_admin_token_alone_guards_only_the_admin_commands(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", env={"SESSIONSERVER_ADMIN_TOKEN": ADMIN})
    with daemon.client() as c:
        sid = c.cmd("create")[3:]
        assert c.cmd(f"peek {sid}") == "err Admin token required."
        assert c.cmd(f"auth {APP}") == "err Invalid token."
        assert c.cmd(f"auth {ADMIN}") == "ok"
        assert c.cmd(f"peek {sid}") == "ok a:0:{}"


@pytest.mark.parametrize("framing", ["text", "resp"])
def test_five_wrong_tokens_close_the_connection(daemon: Daemon, framing: str) -> None:
    sock = raw(daemon)
    if framing == "text":
        sock.sendall(b"".join(b"auth guess%d\r\n" % i for i in range(8)))
        expected = b"err Invalid token.\r\n" * 5
    else:
        sock.sendall(b"".join(b"*2\r\n$4\r\nauth\r\n$6\r\nguess%d\r\n" % i for i in range(8)))
        expected = b"-WRONGPASS Invalid token.\r\n" * 5
    assert until_closed(sock) == expected
    until(lambda: "closing a connection from 127.0.0.1:" in daemon.log, what="the log line")
    assert "authentication failed from 127.0.0.1:" in daemon.log


def test_an_authenticated_connection_guessing_the_admin_token_is_cut_off_too(
    daemon: Daemon,
) -> None:
    sock = raw(daemon)
    sock.sendall(f"auth {APP}\r\n".encode() + b"auth guess\r\n" * 6 + b"ping\r\n")
    assert until_closed(sock) == b"ok\r\n" + b"err Invalid token.\r\n" * 5


def test_failures_are_logged_in_a_few_lines(daemon: Daemon) -> None:
    for _ in range(20):
        sock = raw(daemon)
        sock.sendall(b"auth guess\r\n" * 5)
        until_closed(sock)
    lines = [
        line
        for line in daemon.log.splitlines()
        if "authentication failed" in line or "wrong tokens" in line
    ]
    assert 2 <= len(lines) <= 4, lines  # 100 failures, 20 closes: a line each, the rest counted


def test_before_auth_only_small_requests_are_parsed(daemon: Daemon) -> None:
    sock = raw(daemon)
    sock.sendall(b"put k " + b"x" * 5000 + b"\r\n")
    assert until_closed(sock) == b"err Line too long.\r\n"
    sock = raw(daemon)
    sock.sendall(b"*17\r\n")  # more arguments than any request before auth needs
    assert until_closed(sock).startswith(b"-ERR Protocol error: too many arguments.")
    sock = raw(daemon)
    sock.sendall(b"*1\r\n$5000\r\n")
    assert until_closed(sock).startswith(b"-ERR Protocol error: request too large.")


@pytest.mark.parametrize("framing", ["text", "resp"])
def test_a_large_request_pipelined_behind_auth_gets_the_full_limits(
    daemon: Daemon, framing: str
) -> None:
    value = "v" * 100_000
    sock = raw(daemon)
    if framing == "text":
        sock.sendall(f"auth {APP}\r\nnew\r\nput k {value}\r\nget k\r\nquit\r\n".encode())
        lines = until_closed(sock).split(b"\r\n")
        assert lines[0] == b"ok" and lines[1].startswith(b"ok ") and lines[2] == b"ok"
        assert lines[3] == b"ok " + value.encode()
        return
    wire = b"*2\r\n$4\r\nauth\r\n$%d\r\n%s\r\n" % (len(APP), APP.encode())
    wire += b"*3\r\n$6\r\ncreate\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (len(value), value.encode())
    wire += b"*1\r\n$4\r\nquit\r\n"
    sock.sendall(wire)
    replies = until_closed(sock).split(b"\r\n")
    assert replies[0] == b"+OK" and replies[1] == b"$32" and replies[3] == b"+OK"
