"""Test helpers: a real daemon process on a free port, and a raw line-protocol client."""

from __future__ import annotations

import contextlib
import socket

from sessionserver.process import DaemonProcess


class Daemon(DaemonProcess):
    """The daemon child process, with a raw client factory."""

    def client(self, timeout: float = 10.0) -> LineClient:
        return LineClient(self.host, self.port, timeout=timeout)


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
