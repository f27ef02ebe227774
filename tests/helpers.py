"""Test helpers: a real daemon process on a free port, and a raw line-protocol client."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LISTENING = re.compile(r"listening on (\S+):(\d+)")


class Daemon:
    """``python -m sessionserver serve`` as a child process, its log in a file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, host: str, port: int) -> None:
        self.proc = proc
        self.log_path = log
        self.host = host
        self.port = port

    @classmethod
    def start(
        cls,
        workdir: Path,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 20.0,
    ) -> Daemon:
        workdir.mkdir(parents=True, exist_ok=True)
        n = len(list(workdir.glob("daemon-*.log")))
        log = workdir / f"daemon-{n}.log"
        argv = [sys.executable, "-m", "sessionserver", "serve", "--port", "0", *args]
        if not any(a.startswith("--data-dir") for a in args):
            argv += ["--data-dir", str(workdir / "data")]
        full_env = {**os.environ, **(env or {})}
        with open(log, "wb") as fh:
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=full_env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            found = LISTENING.search(text)
            if found:
                return cls(proc, log, found.group(1), int(found.group(2)))
            if proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {proc.returncode}:\n{text}")
            time.sleep(0.02)
        proc.kill()
        raise RuntimeError(f"daemon did not start:\n{log.read_text(errors='replace')}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, timeout: float = 10.0) -> LineClient:
        return LineClient(self.host, self.port, timeout=timeout)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


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
