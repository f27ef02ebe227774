"""RESP2 against a real daemon, with real Redis clients: redis-cli and redis-py."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import redis

from ..conftest import StartDaemon
from ..helpers import Daemon


def cli(daemon: Daemon, *args: str, stdin: str | None = None) -> str:
    exe = shutil.which("redis-cli")
    assert exe, "redis-cli is needed (Debian: redis-tools); .ci/run installs it"
    result = subprocess.run(
        [exe, "-h", daemon.host, "-p", str(daemon.port), *args],
        capture_output=True,
        text=True,
        timeout=30,
        input=stdin,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_redis_cli_drives_a_session(memory_daemon: Daemon) -> None:
    sid = cli(memory_daemon, "new")
    assert len(sid) == 32
    assert cli(memory_daemon, "ping") == "PONG"
    assert cli(memory_daemon, "write", sid, "2", "user", "42", "greeting", "hello world") == "OK"
    assert cli(memory_daemon, "read", sid).splitlines() == ["user", "42", "greeting", "hello world"]
    assert cli(memory_daemon, "write", sid, "0", "user") == "OK"
    assert cli(memory_daemon, "read", sid).splitlines() == ["greeting", "hello world"]
    assert cli(memory_daemon, "open", "../../etc/passwd", "w") == "ERR Could not open session."
    # pipelined on one connection: a session opened, used and closed
    out = cli(memory_daemon, stdin=f"open {sid} w\nput k v\nkeys\nclose\nget k\n")
    assert out.splitlines() == ["OK", "OK", "greeting", "k", "OK", "ERR No session opened."]


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_execute_command(memory_daemon: Daemon, protocol: int) -> None:
    r = redis.Redis(host=memory_daemon.host, port=memory_daemon.port, protocol=protocol)
    try:
        assert r.ping() is True
        sid = r.execute_command("new")
        assert r.execute_command("put", "bin", b"\x00\r\n\xff") == b"OK"
        assert r.execute_command("close") == b"OK"
        assert r.execute_command("open", sid, "r") == b"OK"
        assert r.execute_command("get", "bin") == b"\x00\r\n\xff"
        assert r.execute_command("keys") == [b"bin"]
        assert r.execute_command("get_all") == [b"bin", b"\x00\r\n\xff"]
        assert r.execute_command("close") == b"OK"
        with pytest.raises(redis.ResponseError, match="Key does not exist"):
            r.execute_command("open", sid, "r")
            r.execute_command("get", "missing")
        pipe = r.pipeline(transaction=False)
        pipe.execute_command("write", sid, 1, "n", 1)
        pipe.execute_command("read", sid)
        pipe.execute_command("expires", sid)
        assert pipe.execute() == [b"OK", [b"bin", b"\x00\r\n\xff", b"n", b"1"], 1440]
    finally:
        r.close()


def test_binary_values_are_refused_on_the_text_framing(memory_daemon: Daemon) -> None:
    r = redis.Redis(host=memory_daemon.host, port=memory_daemon.port, protocol=2)
    sid = r.execute_command("create", "bin", b"a\nb", "ok", "fine", "\xff".encode("latin-1"), "x")
    r.close()
    with memory_daemon.client() as c:
        assert c.cmd(f"open {sid.decode()} r") == "ok"
        assert c.cmd("get bin") == "err Value is not text; use the RESP framing."
        assert c.cmd("get ok") == "ok fine"
        assert c.cmd("keys") == "err Could not retrieve keys."
        assert c.cmd("get_all") == "err Could not get session data."


def test_auth_over_resp(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", env={"SESSIONSERVER_AUTH_TOKEN": "tok3n"})
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=daemon.port, password="wrong", protocol=3).ping()
    for protocol in (2, 3):
        r = redis.Redis(port=daemon.port, password="tok3n", protocol=protocol)
        assert r.execute_command("new")
        r.close()
    r = redis.Redis(port=daemon.port, protocol=2)
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        r.execute_command("new")
    r.close()


def test_a_malformed_request_is_answered_then_the_connection_closes(
    memory_daemon: Daemon,
) -> None:
    with memory_daemon.client() as c:
        c.send(b"*1\r\n$4\r\nping\r\n*1\r\n:3\r\n*1\r\n$4\r\nping\r\n")
        assert c.read_raw_line() == b"+PONG\r\n"
        assert c.read_raw_line().startswith(b"-ERR Protocol error")
        assert c.closed_by_server()
    with memory_daemon.client() as c:
        assert c.cmd("ping") == "ok pong"


def test_resp_limits_and_errors(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--max-value", "4", "--max-line", "64")
    r = redis.Redis(port=daemon.port, protocol=2)
    try:
        sid = r.execute_command("create", "a", "1")
        with pytest.raises(redis.ResponseError, match="Value too large"):
            r.execute_command("write", sid, 1, "a", "12345")
        with pytest.raises(redis.ResponseError, match="Invalid argument"):
            r.execute_command("write", sid, 2, "a")
        with pytest.raises(redis.ResponseError, match="Invalid key"):
            r.execute_command("write", sid, 1, "a b", "1")
        assert r.execute_command("read", sid) == [b"a", b"1"]
    finally:
        r.close()
    with daemon.client() as c:  # a request over --max-line: answered, connection closed
        c.send(b"*2\r\n$3\r\nput\r\n$100\r\n" + b"x" * 100 + b"\r\n")
        assert c.read_raw_line().startswith(b"-ERR Protocol error: request too large")


def test_write_and_create_carry_an_idle_lifetime(memory_daemon: Daemon) -> None:
    r = redis.Redis(host=memory_daemon.host, port=memory_daemon.port, protocol=2)
    try:
        sid = r.execute_command("create", 300, "a", "1", "ttl", "x").decode()
        assert r.execute_command("expires", sid) == 300
        assert r.execute_command("read", sid) == [b"a", b"1", b"ttl", b"x"]
        plain = r.execute_command("create", "ttl", "5").decode()  # an even count: a pair
        assert r.execute_command("read", plain) == [b"ttl", b"5"]
        assert r.execute_command("expires", plain) != 5
        assert r.execute_command("write", sid, "ttl", 900, 1, "b", "2", "a") == b"OK"
        assert r.execute_command("read", sid) == [b"ttl", b"x", b"b", b"2"]
        assert r.execute_command("expires", sid) == 900
        assert r.execute_command("write", sid, 1, "ttl", "y") == b"OK"  # a key named ttl
        assert r.execute_command("expires", sid) == 900
        with pytest.raises(redis.ResponseError, match="Invalid argument"):
            r.execute_command("write", sid, "ttl", -1, 0)
        with pytest.raises(redis.ResponseError, match="Invalid argument"):
            r.execute_command("create", 0, "a", "1")
    finally:
        r.close()


def test_read_and_write_withttl(memory_daemon: Daemon) -> None:
    r = redis.Redis(host=memory_daemon.host, port=memory_daemon.port, protocol=2)
    try:
        sid = r.execute_command("create", 700, "a", "1").decode()
        assert r.execute_command("read", sid, "withttl") == [700, b"a", b"1"]
        assert r.execute_command("write", sid, "withttl", 1, "b", "2") == 700
        assert r.execute_command("write", sid, "ttl", 50, "withttl", 0, "a") == 50
        assert r.execute_command("read", sid, "withttl") == [50, b"b", b"2"]
        empty = r.execute_command("create").decode()
        assert r.execute_command("read", empty, "withttl")[1:] == []
    finally:
        r.close()
