"""With ``--admin-token``, everything but the probes requires it (Bearer, or Basic for a
browser); changes need JSON from the dashboard's own origin; bad input gets a clear 400."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ...conftest import StartDaemon
from ...helpers import Daemon

TOKEN = "admin-s3cret"
PROTECTED = ["/metrics", "/", "/api/overview", "/api/user?id=42", "/static/dashboard.js"]


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> Daemon:
    return start_daemon(
        "--storage", "memory://", "--admin-port", "0", env={"SESSIONSERVER_ADMIN_TOKEN": TOKEN}
    )


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()


@pytest.mark.parametrize("path", PROTECTED)
def test_the_admin_token_is_required(daemon: Daemon, path: str) -> None:
    url = daemon.admin_url() + path
    refused = httpx.get(url, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic realm=")
    for wrong in ("Bearer nope", "Bearer " + TOKEN + "x", basic("nope"), "Token " + TOKEN, ""):
        assert httpx.get(url, headers={"Authorization": wrong}, timeout=10).status_code == 401
    for right in ("Bearer " + TOKEN, basic(TOKEN)):
        assert httpx.get(url, headers={"Authorization": right}, timeout=10).status_code == 200


def test_the_probes_stay_open(daemon: Daemon) -> None:
    url = daemon.admin_url()
    assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    assert httpx.get(url + "/readyz", timeout=10).status_code == 200


def test_the_token_is_never_in_the_log(daemon: Daemon) -> None:
    url = daemon.admin_url()
    httpx.get(url + "/metrics", headers={"Authorization": "Bearer " + TOKEN}, timeout=10)
    httpx.get(url + "/metrics", headers={"Authorization": "Bearer wrong-guess"}, timeout=10)
    daemon.stop()
    assert TOKEN not in daemon.log and "wrong-guess" not in daemon.log


def test_changes_need_json_from_the_same_origin(daemon: Daemon) -> None:
    url = daemon.admin_url()
    auth = {"Authorization": "Bearer " + TOKEN}
    # What a form of another site could send: not JSON.
    form = httpx.post(url + "/api/user/logout", data={"user": "42"}, headers=auth, timeout=10)
    assert form.status_code == 403
    other = httpx.post(
        url + "/api/user/logout",
        json={"user": "42"},
        headers={**auth, "Origin": "http://evil.example"},
        timeout=10,
    )
    assert other.status_code == 403
    ours = httpx.post(url + "/api/user/logout", json={"user": "42"}, headers=auth, timeout=10)
    assert ours.status_code == 200 and ours.json() == {"destroyed": 0}


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("GET", "/api/user", None, "give a user id"),
        ("GET", "/api/user?id=", None, "give a user id"),
        ("GET", "/api/user?id=" + "x" * 1025, None, "a user id is at most 1024 bytes"),
        ("POST", "/api/user/logout", b"{not json", "the body is not JSON"),
        ("POST", "/api/user/logout", b'["42"]', "give a user id"),
        ("POST", "/api/user/logout", b'{"user": 42}', "give a user id"),
    ],
)
def test_bad_input_gets_a_clear_error(
    daemon: Daemon, method: str, path: str, body: bytes | None, error: str
) -> None:
    response = httpx.request(
        method,
        daemon.admin_url() + path,
        content=body,
        headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_without_a_token_the_listener_is_open_by_address_only(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://", "--admin-port", "0")
    url = daemon.admin_url()
    assert httpx.get(url + "/metrics", timeout=10).status_code == 200
    port = url.rsplit(":", 1)[1]
    assert (
        httpx.get(url + "/", headers={"Host": f"localhost:{port}"}, timeout=10).status_code == 200
    )
    # A name some site pointed at 127.0.0.1 (DNS rebinding) is refused; probes stay open.
    rebound = {"Host": f"attacker.example:{port}"}
    refused = httpx.get(url + "/api/overview", headers=rebound, timeout=10)
    assert refused.status_code == 403
    assert refused.json() == {"error": "set --admin-token to reach the admin listener by name"}
    assert httpx.get(url + "/readyz", headers=rebound, timeout=10).status_code == 200


def test_the_auth_token_stands_in_for_a_missing_admin_token(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(
        "--storage", "memory://", "--admin-port", "0", env={"SESSIONSERVER_AUTH_TOKEN": "app"}
    )
    url = daemon.admin_url() + "/metrics"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer app"}, timeout=10).status_code == 200


def test_an_admin_port_in_use_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "sessionserver",
                "serve",
                "--port",
                "0",
                "--storage",
                "memory://",
                "--admin-port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1] == (
        f"sessionserver: cannot listen on 127.0.0.1:{port} (--admin-port): Address already in use"
    )
    assert "Traceback" not in result.stderr
