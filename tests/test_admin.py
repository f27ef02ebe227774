"""sessionserver ping / stats / sessions / show against a real daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sessionserver import SessionClient

from .helpers import Daemon


def admin(daemon: Daemon | None, *args: str) -> subprocess.CompletedProcess[str]:
    url = (
        f"sessionserver://{daemon.host}:{daemon.port}" if daemon else "sessionserver://127.0.0.1:1"
    )
    return subprocess.run(
        [sys.executable, "-m", "sessionserver", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SESSIONSERVER_URL": url},
    )


def test_admin_commands(memory_daemon: Daemon) -> None:
    with SessionClient(f"sessionserver://{memory_daemon.host}:{memory_daemon.port}") as c:
        sid = c.create({"user": "42", "note": "héllo", "bin": b"\xff"})
        before = c.expires(sid)
    assert admin(memory_daemon, "ping").stdout == "pong\n"
    listed = admin(memory_daemon, "sessions").stdout.split()
    assert sid in listed
    shown = admin(memory_daemon, "show", sid)
    assert shown.returncode == 0
    head, *pairs = shown.stdout.splitlines()
    # Seconds pass while the commands above start their interpreters: the lifetime slides down.
    prefix = f"session {sid}: 3 keys, expires in "
    assert head.startswith(prefix) and head.endswith(" s"), head
    assert before - 30 <= int(head[len(prefix) : -2]) <= before
    assert pairs == [
        "  user = 42",
        "  note = héllo",
        "  bin = b'\\xff'",
    ]
    stats = json.loads(admin(memory_daemon, "stats", "--json").stdout)
    assert stats["storage"] == "memory" and stats["sessions"] >= 1
    assert "sessions" in admin(memory_daemon, "stats").stdout


def test_admin_errors_are_one_line(memory_daemon: Daemon) -> None:
    missing = admin(memory_daemon, "show", "0123456789abcdef0123456789abcdef")
    assert missing.returncode == 1
    assert missing.stderr == "sessionserver: no such session (Could not open session.)\n"
    down = admin(None, "ping")
    assert down.returncode == 1
    assert down.stderr.startswith("sessionserver: no session server answered: ")
    assert len(down.stderr.splitlines()) == 1


def test_ping_knows_a_sessionserver_from_redis() -> None:
    redis = subprocess.run(
        [sys.executable, "-m", "sessionserver", "ping", "--url", "sessionserver://127.0.0.1:6379"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert redis.returncode == 1
    assert redis.stdout == ""
    assert (
        redis.stderr
        == "sessionserver: 127.0.0.1:6379 is not a sessionserver (it says it is 'redis')\n"
    )
