"""The dashboard's JSON API on every kind of store: a user's sessions (id prefixes and seconds
left, never data), and logging them out everywhere, durably, through any daemon of a shared
store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from ...conftest import StartDaemon
from ...helpers import Daemon
from ...stores import drop_redis_prefix, unique_name


@pytest.fixture(params=["memory", "sqlite", "redis"])
def daemon(request: pytest.FixtureRequest, start_daemon: StartDaemon) -> Iterator[Daemon]:
    if request.param == "redis":
        prefix = unique_name("api")
        yield start_daemon(
            "--storage", f"redis://127.0.0.1:6379/0?prefix={prefix}", "--admin-port", "0"
        )
        drop_redis_prefix(prefix)
    elif request.param == "sqlite":
        yield start_daemon("--admin-port", "0")  # the embedded default
    else:
        yield start_daemon("--storage", "memory://", "--admin-port", "0")


def test_a_user_is_listed_and_logged_out_everywhere(daemon: Daemon) -> None:
    url = daemon.admin_url()
    with daemon.client() as c:
        alice = {c.new_session(_user_id=json.dumps("alice"), cart="[1]") for _ in range(3)}
        other = c.new_session(_auth_user_id=json.dumps("bob"))
    found = httpx.get(url + "/api/user", params={"id": "alice"}, timeout=10).json()
    assert found["total"] == 3
    assert sorted(s["session"] for s in found["sessions"]) == sorted(s[:8] for s in alice)
    assert all(0 < s["seconds_left"] <= 1440 for s in found["sessions"])
    assert set(found["sessions"][0]) == {"session", "seconds_left"}  # never the data
    out = httpx.post(url + "/api/user/logout", json={"user": "alice"}, timeout=10)
    assert out.status_code == 200 and out.json() == {"destroyed": 3}
    with daemon.client() as c:
        for sid in alice:
            assert c.cmd(f"open {sid} r") == "err Could not open session."
        assert c.cmd(f"open {other} r") == "ok"
    again = httpx.get(url + "/api/user", params={"id": "alice"}, timeout=10).json()
    assert again == {"sessions": [], "total": 0}
    bob = httpx.get(url + "/api/user", params={"id": "bob"}, timeout=10).json()
    assert bob["total"] == 1
    daemon.stop()
    assert "admin: logged a user out everywhere (3 sessions)" in daemon.log
    assert "alice" not in daemon.log
