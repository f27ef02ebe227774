"""Test helpers: a real daemon process on a free port, and a raw line-protocol client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sessionserver.process import DaemonProcess


def wait_until(condition: Callable[[], object], *, timeout: float = 10.0, what: str = "") -> None:
    """Wait for ``condition()`` to hold, asking again every few milliseconds: for a state of
    the daemon (a waiter queued, a session gone) rather than a guess at how long it takes."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        pause.wait(0.01)


async def wait_until_async(
    condition: Callable[[], Awaitable[object]], *, seconds: float = 10.0, what: str = ""
) -> None:
    """:func:`wait_until` for a condition a coroutine answers (a store's state); a condition
    that raises :class:`StorageError` counts as not yet holding (a store coming back)."""
    from sessionserver.storage import StorageError

    try:
        async with asyncio.timeout(seconds):
            while True:
                with contextlib.suppress(StorageError):
                    if await condition():
                        return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(
            f"timed out after {seconds} s waiting for {what or condition}"
        ) from None


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``sessionserver ARGS`` as a user runs it: a process of its own, none of the
    ``SESSIONSERVER_*`` settings of the test run's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONSERVER_")}
    return subprocess.run(
        [sys.executable, "-m", "sessionserver", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


#: The startup line of the admin HTTP listener.
ADMIN_LISTENING = re.compile(r"admin listening on (http://\S+:\d+)")


class Daemon(DaemonProcess):
    """The daemon child process, with a raw client factory."""

    def admin_url(self) -> str:
        """The admin listener's base URL (the daemon was started with ``--admin-port``)."""
        found: list[str] = []

        def logged() -> bool:
            match = ADMIN_LISTENING.search(self.log)
            if match:
                found.append(match.group(1))
            return bool(match)

        wait_until(logged, what="the admin listener's startup line")
        return found[0]

    def client(self, timeout: float = 10.0) -> LineClient:
        return LineClient(self.host, self.port, timeout=timeout)

    def stats(self) -> dict[str, str]:
        """The ``stats`` figures, asked on a connection of their own."""
        with self.client() as c:
            reply = c.cmd("stats")
        assert reply.startswith("ok "), reply
        return dict(item.split("=", 1) for item in reply[3:].split())

    def wait_for_lock_waiters(self, count: int) -> None:
        """Wait until ``count`` connections are queued for locks."""
        wait_until(
            lambda: int(self.stats()["lock_waiting"]) >= count,
            what=f"{count} lock waiters",
        )

    def wait_until_gone(self, sid: str, *, timeout: float = 10.0) -> None:
        """Wait until the daemon says ``sid`` is no session (expired, reclaimed)."""
        with self.client() as c:
            wait_until(
                lambda: c.cmd(f"expires {sid}") == "err Could not open session.",
                timeout=timeout,
                what=f"session {sid[:8]}... to expire",
            )


class LineClient:
    """A raw TCP client for the text framing: lines out, reply lines back."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def __enter__(self) -> LineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def read_raw_line(self) -> bytes:
        """One reply line, CRLF included; b"" if the server closed the connection."""
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self._buffer = self._buffer, b""
                return rest
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line + b"\n"

    def read_line(self) -> str:
        raw = self.read_raw_line()
        assert raw.endswith(b"\r\n"), f"reply not CRLF-terminated: {raw!r}"
        return raw[:-2].decode()

    def cmd(self, line: str) -> str:
        """Send one request line, return its reply without CRLF."""
        self.send(line + "\r\n")
        return self.read_line()

    def pipeline(self, *lines: str) -> list[str]:
        """Send all lines in one write, then read one reply per line."""
        self.send("".join(line + "\r\n" for line in lines))
        return [self.read_line() for _ in lines]

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def new_session(self, **pairs: str) -> str:
        reply = self.cmd("new")
        assert reply.startswith("ok "), reply
        for key, value in pairs.items():
            assert self.cmd(f"put {key} {value}") == "ok"
        assert self.cmd("close") == "ok"
        return reply[3:]
