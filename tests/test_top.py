"""``sessionserver top``: the dashboard's figures in a terminal, read from the admin listener;
live in a real pseudo-terminal, once for scripts, one line when it cannot read them."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from .conftest import StartDaemon
from .helpers import Daemon, wait_until

TOKEN = "top-t0ken"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[a-zA-Z]")


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> Daemon:
    return start_daemon(
        "--storage", "memory://", "--admin-port", "0", env={"SESSIONSERVER_ADMIN_TOKEN": TOKEN}
    )


def top(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SESSIONSERVER_ADMIN_TOKEN"}
    if token is not None:
        env["SESSIONSERVER_ADMIN_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "sessionserver", "top", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**env, "COLUMNS": "120"},
    )


def test_once_prints_the_figures(daemon: Daemon) -> None:
    url = daemon.admin_url()
    with daemon.client() as c:
        for _ in range(3):
            c.new_session(k="v")
        assert c.cmd("get k") == "err No session opened."

    def shows_three() -> bool:
        return re.search(r"^sessions +3 *$", top("--url", url, "--once").stdout, re.M) is not None

    wait_until(shows_three, what="top to show 3 sessions")
    out = top("--url", url, "--once")
    assert out.returncode == 0 and out.stderr == ""
    assert re.search(r"^commands, in all +10 *$", out.stdout, re.M), out.stdout
    assert re.search(r"^storage up +1 *$", out.stdout, re.M)
    assert re.search(r"^ no_session +1 *$", out.stdout, re.M)  # errors by reply
    assert re.search(r"^ put +3 ", out.stdout, re.M)  # the commands table
    assert "ready" in out.stdout.splitlines()[0]


@pytest.mark.parametrize(
    ("token", "message"),
    [(None, "wants the admin token"), ("wrong", "wants the admin token")],
)
def test_a_missing_or_wrong_token_is_one_line(
    daemon: Daemon, token: str | None, message: str
) -> None:
    out = top("--url", daemon.admin_url(), "--once", token=token)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and message in out.stderr
    assert out.stderr.startswith("sessionserver: ")


def test_an_unreachable_daemon_is_one_line() -> None:
    out = top("--url", "http://127.0.0.1:9", "--once")
    assert out.returncode == 1
    assert out.stderr.startswith("sessionserver: cannot read http://127.0.0.1:9: ")
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_live_in_a_terminal(daemon: Daemon) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sessionserver",
            "top",
            "--url",
            daemon.admin_url(),
            "--interval",
            "0.2",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "SESSIONSERVER_ADMIN_TOKEN": TOKEN, "COLUMNS": "100", "LINES": "50"},
    )
    os.close(slave)
    screen = b""

    def read_until(pattern: bytes, within: float = 15) -> None:
        nonlocal screen
        deadline = time.monotonic() + within
        while not re.search(pattern, ANSI.sub(b"", screen)):
            assert time.monotonic() < deadline, ANSI.sub(b"", screen)[-2000:].decode()
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                screen += os.read(master, 65536)

    try:
        read_until(rb"sessions +0 ")
        with daemon.client() as c:
            c.new_session(k="v")
            c.new_session(k="v")
        read_until(rb"sessions +2 ")  # the same process, refreshed
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
