"""Bounded parsing: no work or memory in proportion to what a client claims, nothing that
stalls another client's ping."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from ..conftest import StartDaemon
from ..helpers import Daemon
from .attack import raw, until_closed
from .probe import PingProbe


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> Daemon:
    return start_daemon("--storage", "memory://")


@pytest.fixture
def probe(daemon: Daemon, request: pytest.FixtureRequest) -> Iterator[PingProbe]:
    with PingProbe(daemon.host, daemon.port, daemon_pid=daemon.pid, name=request.node.name) as p:
        yield p


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (b"*2147483647\r\n", b"-ERR Protocol error: too many arguments."),
        (b"*3009\r\n", b"-ERR Protocol error: too many arguments."),  # 3 * 1000 keys + 8
        (b"*1\r\n$2147483647\r\n", b"-ERR Protocol error: request too large."),
        (b"*1\r\n~2147483647\r\n", b"-ERR Protocol error: expected '$'"),
        (b"*1\r\n>2147483647\r\n", b"-ERR Protocol error: expected '$'"),
        (b"*1\r\n*2147483647\r\n", b"-ERR Protocol error: expected '$'"),
    ],
)
def test_a_header_claiming_too_much_is_refused_at_once(
    daemon: Daemon, probe: PingProbe, header: bytes, error: bytes
) -> None:
    """The 13-byte freeze: three connections each claiming 2^31 arguments blocked the loop
    for ~15 s, before auth.  Now each gets its protocol error as soon as its header is in."""
    unloaded = probe.baseline()
    start = time.monotonic()
    attackers = [raw(daemon) for _ in range(3)]
    for sock in attackers:
        sock.sendall(header)  # and nothing more: the claimed bytes never come
    for sock in attackers:
        assert until_closed(sock).startswith(error)
    probe.check(unloaded, (start, time.monotonic()))


def test_a_huge_request_trickling_in_stalls_nobody(daemon: Daemon, probe: PingProbe) -> None:
    """A request of many small arguments, sent a few bytes at a time: parsed once, not once
    per packet (which was quadratic)."""
    unloaded = probe.baseline()
    start = time.monotonic()
    sock = raw(daemon)
    wire = b"*3008\r\n$4\r\nping\r\n" + b"$1\r\nx\r\n" * 3007
    for i in range(0, len(wire), 11):
        sock.sendall(wire[i : i + 11])
    assert sock.recv(64) == b"+PONG\r\n"  # ping takes any arguments
    sock.close()
    probe.check(unloaded, (start, time.monotonic()))


@pytest.mark.parametrize("framing", ["text", "resp"])
def test_a_flood_of_pipelined_requests_stalls_nobody(
    daemon: Daemon, probe: PingProbe, framing: str
) -> None:
    """Megabytes of pipelined pings in one go: the daemon answers them in slices and serves
    other clients between the slices."""
    one = b"ping\r\n" if framing == "text" else b"*1\r\n$4\r\nping\r\n"
    reply = b"ok pong\r\n" if framing == "text" else b"+PONG\r\n"
    count = 4 * 1024 * 1024 // len(one)
    unloaded = probe.baseline()
    start = time.monotonic()
    sock = raw(daemon)
    sock.sendall(one * count)
    sock.shutdown(socket.SHUT_WR)
    received = until_closed(sock)
    assert received == reply * count
    probe.check(unloaded, (start, time.monotonic()))


@pytest.mark.parametrize("framing", ["text", "resp"])
def test_a_line_or_request_past_max_line_is_cut_off_as_it_arrives(
    start_daemon: StartDaemon, framing: str
) -> None:
    daemon = start_daemon("--storage", "memory://", "--max-line", "64k")
    sock = raw(daemon)
    if framing == "text":
        sock.sendall(b"put k " + b"x" * 70_000)  # no end of line yet
        assert sock.recv(64) == b"err Line too long.\r\n"
        sock.sendall(b"x" * 1_000_000 + b"\r\nping\r\n")  # skipped, not buffered
        assert sock.recv(64) == b"ok pong\r\n"
        sock.close()
    else:
        sock.sendall(b"*3\r\n$3\r\nput\r\n$1\r\nk\r\n$70000\r\n")  # refused at the header
        assert until_closed(sock).startswith(b"-ERR Protocol error: request too large.")


@pytest.mark.parametrize("storage", ["memory://", "sqlite"])
def test_out_of_range_arguments_are_invalid_not_internal_errors(
    start_daemon: StartDaemon, storage: str
) -> None:
    """Before: 'sessions 9223372036854775808' answered 'err Internal server error.' with a
    traceback in the log."""
    daemon = start_daemon(*(["--storage", storage] if storage != "sqlite" else []))
    with daemon.client() as c:
        sid = c.new_session()
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd("ttl 99999999999999999999") == "err Invalid argument."
        assert c.cmd("close") == "ok"
        for line in [
            "sessions 9223372036854775808",
            "sessions 99999999999999999999999999",
            "sessions -1",
            "sessions 0 0",
            "sessions 0 10001",
            "sessions 1" + "0" * 5000,
            "gc 99999999999999999999",
            "expires 0123456789abcdef0123456789abcdef",
        ]:
            reply = c.cmd(line)
            assert reply in ("err Invalid argument.", "err Could not open session."), line
        assert c.cmd("sessions 9223372036854775807").startswith("ok 0")
    assert "Traceback" not in daemon.log


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_a_request_named_like_the_codecs_markers_is_an_unknown_command(
    start_daemon: StartDaemon, token: str | None
) -> None:
    """The codecs hand rejected requests on under pseudo names; over RESP2 a client can name
    a command with any bytes, so those names must not be bytes (they were: b"\\x00" echoed the
    client's own argument back as a reply, and before auth it raised in the daemon)."""
    env = {"SESSIONSERVER_AUTH_TOKEN": token} if token else None
    daemon = start_daemon("--storage", "memory://", env=env)
    sock = raw(daemon)
    sock.sendall(
        b"*2\r\n$1\r\n\x00\r\n$5\r\nhello\r\n"
        + b"*2\r\n$5\r\n\x00resp\r\n$5\r\nhello\r\n"
        + b"*1\r\n$1\r\n\x00\r\n*1\r\n$4\r\nquit\r\n"
    )
    assert until_closed(sock) == b"-ERR unknown command\r\n" * 3 + b"+OK\r\n"
    assert "Traceback" not in daemon.log
