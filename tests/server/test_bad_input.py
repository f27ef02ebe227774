"""Junk, bad encodings and limits: an err reply, nothing stored, the connection goes on."""

from __future__ import annotations

import socket

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ..conftest import StartDaemon
from ..helpers import Daemon


def test_invalid_utf8_and_nul_bytes(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        c.send(b"put k \xff\xfe\r\nput k a\x00b\r\nput \xc3 x\r\nget k\r\nping\r\n")
        assert c.read_line() == "err Invalid UTF-8."
        assert c.read_line() == "err NUL byte in request."
        assert c.read_line() == "err Invalid UTF-8."
        assert c.read_line() == "err Key does not exist"
        assert c.read_line() == "ok pong"


def test_keys_with_the_separator_are_refused(memory_daemon: Daemon) -> None:
    with memory_daemon.client() as c:
        c.cmd("new")
        assert c.cmd("put a|b x") == "err Invalid key."
        assert c.cmd("keys") == "ok "


def test_limits_fail_loudly_and_store_nothing(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(
        "--storage",
        "memory://",
        "--max-value",
        "10",
        "--max-keys",
        "3",
        "--max-session",
        "30",
        "--max-line",
        "100",
    )
    with daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd("put big " + "x" * 11) == "err Value too large."
        assert c.cmd("put a 1") == "ok"
        assert c.cmd("put b 2") == "ok"
        assert c.cmd("put c 3") == "ok"
        assert c.cmd("put d 4") == "err Too many keys."
        assert c.cmd("put a 1234567890") == "ok"
        assert c.cmd("put b 1234567890") == "ok"
        assert c.cmd("put c 1234567890") == "err Session too large."
        payload = 'a:4:{s:1:"a";s:1:"1";s:1:"b";s:1:"2";s:1:"c";s:1:"3";s:1:"d";s:1:"4";}'
        assert c.cmd(f"put_all {payload}") == "err Too many keys."
        assert c.cmd("close") == "ok"
        assert c.cmd(f"open {sid} r") == "ok"
        assert c.cmd("get_all") == (
            'ok a:3:{s:1:"a";s:10:"1234567890";s:1:"b";s:10:"1234567890";s:1:"c";s:1:"3";}'
        )


def test_an_over_long_line_is_answered_and_skipped(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--max-line", "1k")
    with daemon.client() as c:
        c.cmd("new")
        # one chunk holding the whole line, then one arriving in pieces
        c.send(b"put k " + b"x" * 2000 + b"\r\nget k\r\n")
        assert c.read_line() == "err Line too long."
        assert c.read_line() == "err Key does not exist"
        c.send(b"put k " + b"y" * 600)
        c.send(b"y" * 600)
        assert c.read_line() == "err Line too long."
        c.send(b"y" * 5000 + b"\r\nput k fine\r\nget k\r\n")
        assert c.read_line() == "ok"
        assert c.read_line() == "ok fine"


def test_the_connection_limit(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--max-connections", "2")
    with daemon.client() as a, daemon.client() as b:
        assert a.cmd("ping") == "ok pong"
        assert b.cmd("ping") == "ok pong"
        with daemon.client() as c:
            assert c.read_line() == "err Too many connections."
            assert c.closed_by_server()
        assert a.cmd("ping") == "ok pong"


def test_idle_connections_are_closed(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--idle-timeout", "0.5")
    with daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} w") == "ok"
        c.sock.settimeout(5)
        assert c.closed_by_server()
    with daemon.client() as c:  # its lock went with it
        assert c.cmd(f"open {sid} w") == "ok"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(junk=st.binary(max_size=300))
def test_fuzzed_bytes_never_break_the_server(memory_daemon: Daemon, junk: bytes) -> None:
    """Whatever arrives, every line gets exactly one ok/err reply and the server lives on."""
    lines = junk.split(b"\n")
    # `quit` is answered and then ends the connection, as it should: not junk for this test.
    assume(not any(line.split()[:1] and line.split()[0].lower() == b"quit" for line in lines))
    complete = len(lines) - 1
    with memory_daemon.client(timeout=5) as c:
        c.send(b"ping\n" + junk + b"\nping\n")  # the first line makes it the text framing
        assert c.read_line() == "ok pong"
        for _ in range(complete + 1):
            raw = c.read_raw_line()
            assert raw.startswith((b"ok", b"err ")) and raw.endswith(b"\r\n"), raw
        assert c.read_line() == "ok pong"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(junk=st.binary(max_size=300))
def test_fuzzed_resp_never_breaks_the_server(memory_daemon: Daemon, junk: bytes) -> None:
    """RESP2 junk: replies are well-formed RESP2, and a protocol error ends only that
    connection."""
    with memory_daemon.client(timeout=5) as c:
        c.send(b"*" + junk)
        c.sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := c.sock.recv(65536):
            received += chunk
    for line in received.split(b"\r\n"):
        assert line == b"" or line[:1] in b"+-:$*" or line.isascii(), line
    with memory_daemon.client() as c:
        assert c.cmd("ping") == "ok pong"


def test_a_client_that_never_reads_does_not_stall_others(memory_daemon: Daemon) -> None:
    hog = socket.create_connection((memory_daemon.host, memory_daemon.port))
    try:
        hog.setblocking(False)
        payload = b"ping\r\n" * 50_000
        try:
            for _ in range(40):
                hog.send(payload)
        except BlockingIOError:
            pass  # the server stopped reading from us: back-pressure works
        with memory_daemon.client() as c:
            assert c.cmd("ping") == "ok pong"
    finally:
        hog.close()


def test_session_size_is_counted_afresh_after_another_writer(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--max-session", "30")
    with daemon.client() as a, daemon.client() as b:
        sid = a.new_session()
        assert a.cmd(f"open {sid} w") == "ok"
        assert a.cmd("put a 1234567890") == "ok"  # 11 bytes
        assert a.cmd("commit") == "ok"
        assert b.cmd(f"open {sid} w") == "ok"
        assert b.cmd("put b 1234567890") == "ok"  # 22 bytes
        assert b.cmd("close") == "ok"
        assert a.cmd(f"open {sid} w") == "ok"
        assert a.cmd("put c 1234567890") == "err Session too large."  # 33 > 30
