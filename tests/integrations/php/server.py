"""PHP's built-in web server (``php -S``) serving the test pages, and a gate the pages wait at.

The server runs ``PHP_CLI_SERVER_WORKERS`` processes, so requests really run in parallel, on a
free port, and is waited on (its startup line names the port), never slept on.  Warnings are
displayed in the page body (output is buffered, so they never stop a cookie from being sent),
so tests see exactly what a browser would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Self

import httpx

PAGES = Path(__file__).parent / "pages"
HANDLER = Path(__file__).parents[3] / "integrations" / "php" / "SessionServerHandler.php"
STARTED = re.compile(r"Development Server \(http://127\.0\.0\.1:(\d+)\) started")

__all__ = ["HANDLER", "PAGES", "Gate", "PhpServer", "result"]


class PhpServer:
    """``php -S`` on the pages, its handler pointed at ``address`` with ``options``."""

    def __init__(
        self,
        workdir: Path,
        address: str,
        *,
        options: dict[str, Any] | None = None,
        ini: dict[str, str] | None = None,
        workers: int = 4,
    ) -> None:
        settings = {
            "display_errors": "1",
            "html_errors": "0",
            "log_errors": "0",
            "error_reporting": str(32767),  # E_ALL
            "output_buffering": "65536",
            **(ini or {}),
        }
        argv = ["php", "-S", "127.0.0.1:0", "-t", str(PAGES)]
        for name, value in settings.items():
            argv += ["-d", f"{name}={value}"]
        env = {
            **os.environ,
            "TEST_SESSIONSERVER": address,
            "TEST_HANDLER_OPTIONS": json.dumps(options or {}),
            "PHP_CLI_SERVER_WORKERS": str(workers),
        }
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"php-{len(list(workdir.glob('php-*.log')))}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 20
        while not (found := STARTED.search(self.log_path.read_text(errors="replace"))):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"php -S did not start:\n{self.log_path.read_text()}")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{found.group(1)}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def browser(self, **cookies: str) -> httpx.Client:
        """A client with its own cookie jar, as one browser."""
        return httpx.Client(base_url=self.url, cookies=cookies, timeout=60)

    def stop(self) -> None:
        """Stop the server and its workers (its own process group)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def result(response: httpx.Response) -> Any:
    """The page's JSON result: the last line of its body."""
    assert response.status_code == 200, response.text
    return json.loads(response.text.rstrip("\n").rsplit("\n", 1)[-1])


class Gate:
    """Pages called with ``?gate=<port>`` stop at ``gate()`` until the test lets them go."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(30)
        self.port: int = self._listener.getsockname()[1]
        self._waiting: list[socket.socket] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        for conn in self._waiting:
            conn.close()
        self._listener.close()

    def arrival(self) -> socket.socket:
        """Wait until a page reaches the gate; it waits there until :meth:`release`."""
        conn, _ = self._listener.accept()
        conn.settimeout(30)
        assert conn.makefile("rb").readline() == b"here\n"
        self._waiting.append(conn)
        return conn

    def release(self, conn: socket.socket) -> None:
        conn.sendall(b"go\n")
        conn.close()
        self._waiting.remove(conn)
