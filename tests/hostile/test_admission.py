"""Who may connect: protected mode, the per-address cap, the file-descriptor limit.  Every
refused connection is told why, in its framing; none is dropped without a word."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import StartDaemon
from ..helpers import Daemon
from .attack import raw, until, until_closed

PROTECTED = b"err Protected mode: the server has no --auth-token"


@pytest.fixture(scope="module")
def other_address() -> Iterator[str]:
    """An address of this machine that is not a loopback one: the one its default route
    leaves from, else one on a veth pair made for the test (as root)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.255", 9))  # sends nothing: picks the source address
        address = probe.getsockname()[0]
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    if not address.startswith("127."):
        yield address
        return
    run = lambda *cmd: subprocess.run(["ip", *cmd], check=True, capture_output=True)  # noqa: E731
    run("link", "add", "sshost0", "type", "veth", "peer", "name", "sshost1")
    try:
        run("addr", "add", "10.213.0.1/30", "dev", "sshost0")
        run("link", "set", "sshost0", "up")
        run("link", "set", "sshost1", "up")
        yield "10.213.0.1"
    finally:
        run("link", "del", "sshost0")


@pytest.mark.parametrize("framing", ["text", "resp"])
def test_protected_mode_refuses_other_hosts_and_names_the_fix(
    start_daemon: StartDaemon, other_address: str, framing: str
) -> None:
    daemon = start_daemon("--storage", "memory://", "--host", "0.0.0.0")
    assert "without --auth-token: protected mode refuses connections" in daemon.log
    sock = raw(daemon, host=other_address)
    sock.sendall(b"ping\r\n" if framing == "text" else b"*1\r\n$4\r\nping\r\n")
    reply = until_closed(sock)
    if framing == "text":
        assert reply.startswith(PROTECTED) and b"--no-protected-mode" in reply
    else:
        assert reply.startswith(b"-DENIED Protected mode:")
    with daemon.client() as c:  # from loopback: served
        assert c.cmd("ping") == "ok pong"
    until(lambda: f"refused a connection from {other_address}" in daemon.log)


def test_a_refused_client_that_says_nothing_is_told_in_text(
    start_daemon: StartDaemon, other_address: str
) -> None:
    daemon = start_daemon("--storage", "memory://", "--host", "0.0.0.0")
    assert until_closed(raw(daemon, host=other_address)).startswith(PROTECTED)


def test_a_token_or_no_protected_mode_lets_other_hosts_in(
    start_daemon: StartDaemon, other_address: str
) -> None:
    daemon = start_daemon("--storage", "memory://", "--host", "0.0.0.0", "--no-protected-mode")
    assert "with protected mode off: anyone who can reach it" in daemon.log
    with socket.create_connection((other_address, daemon.port), timeout=5) as sock:
        sock.sendall(b"ping\r\n")
        assert sock.recv(64) == b"ok pong\r\n"
    daemon = start_daemon(
        "--storage", "memory://", "--host", "0.0.0.0", env={"SESSIONSERVER_AUTH_TOKEN": "t0k3n"}
    )
    assert "protected mode" not in daemon.log
    with socket.create_connection((other_address, daemon.port), timeout=5) as sock:
        sock.sendall(b"auth t0k3n\r\nping\r\n")
        assert until_reply(sock, 2) == b"ok\r\nok pong\r\n"


def until_reply(sock: socket.socket, lines: int) -> bytes:
    received = b""
    while received.count(b"\n") < lines:
        chunk = sock.recv(4096)
        assert chunk
        received += chunk
    return received


def test_one_address_cannot_take_every_connection(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--max-connections-per-address", "3")
    held = [daemon.client() for _ in range(3)]
    for c in held:
        assert c.cmd("ping") == "ok pong"
    for framing, reply in [
        ("text", b"err Too many connections from this address.\r\n"),
        ("resp", b"-ERR Too many connections from this address.\r\n"),
    ]:
        sock = raw(daemon)
        sock.sendall(b"ping\r\n" if framing == "text" else b"*1\r\n$4\r\nping\r\n")
        assert until_closed(sock) == reply
    held.pop().close()
    with daemon.client() as c:  # a place is free again
        assert c.cmd("ping") == "ok pong"
    for c in held:
        c.close()
    assert "has 3 connections (--max-connections-per-address)" in daemon.log


def test_the_fd_limit_is_raised_and_no_connection_past_it_is_dropped(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Started with a soft limit of 100 and a hard one of 200: the daemon raises the soft one
    to 200, lowers --max-connections to what fits (200 less its reserve of 64), and answers
    every connection past that with an err."""
    python = tmp_path / "python-low-fds"
    python.write_text(f'#!/bin/sh\nulimit -Sn 100 && ulimit -Hn 200 && exec {_python()} "$@"\n')
    python.chmod(0o755)
    daemon = Daemon.start(tmp_path / "d", "--storage", "memory://", python=str(python))
    try:
        assert "file descriptor limit raised from 100 to 200" in daemon.log
        assert "--max-connections lowered from 10000 to 136" in daemon.log
        with contextlib.ExitStack() as stack:
            served = [stack.enter_context(daemon.client()) for _ in range(136)]
            for c in served:
                assert c.cmd("ping") == "ok pong"
            for _ in range(40):
                sock = raw(daemon)
                sock.sendall(b"ping\r\n")
                assert until_closed(sock) == b"err Too many connections.\r\n"
        assert "connection limit reached (136, --max-connections)" in daemon.log
    finally:
        daemon.stop()


def _python() -> str:
    import sys

    return sys.executable
