"""The examples run, each with its one documented command, against a real daemon."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .helpers import Daemon

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"example exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture
def run(memory_daemon: Daemon) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "SESSIONSERVER_URL": f"sessionserver://127.0.0.1:{memory_daemon.port}"}
    # The Django tests of this run set their own settings module; the example names its own.
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def start(*argv: str, **extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, *argv],
            env={**env, **extra},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    ("argv", "framework"),
    [
        (["examples/flask_app.py"], "Flask"),
        (["examples/starlette_app.py"], "Starlette"),
        (["examples/wsgi_app.py"], "WSGI"),
        (["examples/django_site/manage.py", "runserver", "--noreload", "{port}"], "Django"),
    ],
)
def test_each_app_counts_visits(run, argv: list[str], framework: str) -> None:
    port = free_port()
    proc = run(*[a.format(port=port) for a in argv], PORT=str(port))
    url = f"http://127.0.0.1:{port}/"
    wait_http(url, proc)
    with httpx.Client() as client:
        visits = [client.get(url).text for _ in range(3)]
    for n, text in enumerate(visits, 1):
        assert framework in text and (f"visit number {n} " in text or f"visit {n} " in text)


def test_shared_cart_across_flask_and_starlette(run) -> None:
    shop, checkout = free_port(), free_port()
    proc = run("examples/shared_cart.py", SHOP_PORT=str(shop), CHECKOUT_PORT=str(checkout))
    wait_http(f"http://127.0.0.1:{checkout}/cart", proc)
    wait_http(f"http://127.0.0.1:{shop}/add/x", proc)
    with httpx.Client() as client:  # one cookie jar: one browser
        client.get(f"http://127.0.0.1:{shop}/add/apple")
        assert client.get(f"http://127.0.0.1:{shop}/add/pear").json()["cart"] == ["apple", "pear"]
        assert client.get(f"http://127.0.0.1:{checkout}/cart").json()["cart"] == ["apple", "pear"]
        bought = client.post(f"http://127.0.0.1:{checkout}/checkout").json()["bought"]
        assert bought == ["apple", "pear"]
        assert client.get(f"http://127.0.0.1:{checkout}/cart").json()["cart"] == []
