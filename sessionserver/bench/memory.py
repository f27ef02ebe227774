"""Memory per idle session: the daemon on ``memory://`` against Redis, the same sessions.

Each session has five fields, 200 bytes of keys and values in all.  The daemon's figure is the
growth of its resident set divided by the sessions (what the operator pays), next to its own
``stats`` estimate; Redis's is the growth of ``used_memory`` (what Redis reports; its RSS grows
at least as much).
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass

from ..process import DaemonProcess

__all__ = ["MemoryResult", "measure_daemon", "measure_redis"]

#: Five fields, 200 bytes of keys and values: k1..k5 (10 bytes) and five 38-byte values.
FIELDS = [(f"k{i}", (f"value-{i}-" * 6)[:38]) for i in range(1, 6)]
assert sum(len(k) + len(v) for k, v in FIELDS) == 200


@dataclass(frozen=True)
class MemoryResult:
    target: str
    sessions: int
    bytes_per_session: float
    note: str


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _lines(sock: socket.socket, count: int) -> list[bytes]:
    buffer = b""
    while buffer.count(b"\n") < count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("connection closed")
        buffer += chunk
    return buffer.split(b"\r\n")[:count]


def measure_daemon(daemon: DaemonProcess, sessions: int, batch: int = 500) -> MemoryResult:
    with socket.create_connection((daemon.host, daemon.port)) as sock:
        sock.sendall(b"ping\r\n")
        _lines(sock, 1)
        before = _rss(daemon.pid)
        cycle = b"new\r\n" + b"".join(f"put {k} {v}\r\n".encode() for k, v in FIELDS) + b"close\r\n"
        per = 2 + len(FIELDS)
        done = 0
        while done < sessions:
            n = min(batch, sessions - done)
            sock.sendall(cycle * n)
            replies = _lines(sock, per * n)
            if any(not r.startswith(b"ok") for r in replies):
                raise RuntimeError(f"daemon refused a write: {replies[:3]}")
            done += n
        # Let the daemon's hot set (decoded sessions) cool down: it is bounded, not per session.
        sock.sendall(b"stats\r\n")
        stats = dict(item.split("=", 1) for item in _lines(sock, 1)[0].decode()[3:].split())
        after = _rss(daemon.pid)
    estimate = stats.get("bytes_per_session", "?")
    return MemoryResult(
        "sessionserver memory://",
        sessions,
        (after - before) / sessions,
        f"RSS growth; stats bytes_per_session={estimate}",
    )


def _resp(*args: str) -> bytes:
    parts = [a.encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def measure_redis(
    host: str, port: int, sessions: int, prefix: str = "ssbench", batch: int = 500
) -> MemoryResult:
    import hiredis

    prefix = f"{prefix}_mem_{secrets.token_hex(4)}"
    reader = hiredis.Reader()

    def call(sock: socket.socket, payload: bytes, count: int) -> list[object]:
        sock.sendall(payload)
        out: list[object] = []
        while len(out) < count:
            reply = reader.gets()
            if reply is False:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("Redis closed the connection")
                reader.feed(chunk)
                continue
            out.append(reply)
        return out

    def used_memory(sock: socket.socket) -> int:
        info = call(sock, _resp("INFO", "memory"), 1)[0]
        assert isinstance(info, bytes)
        for line in info.decode().splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        raise RuntimeError("no used_memory in INFO")

    flat = [x for kv in FIELDS for x in kv]
    with socket.create_connection((host, port)) as sock:
        before = used_memory(sock)
        try:
            done = 0
            while done < sessions:
                n = min(batch, sessions - done)
                keys = [f"{prefix}:sess:{secrets.token_hex(16)}" for _ in range(n)]
                payload = b"".join(
                    _resp("HSET", key, *flat) + _resp("EXPIRE", key, "1440") for key in keys
                )
                call(sock, payload, 2 * n)
                done += n
            after = used_memory(sock)
        finally:
            cursor = b"0"
            while True:
                reply = call(
                    sock, _resp("SCAN", cursor.decode(), "MATCH", f"{prefix}:*", "COUNT", "1000"), 1
                )[0]
                assert isinstance(reply, list)
                cursor, keys = reply
                if keys:
                    call(sock, _resp("DEL", *[k.decode() for k in keys]), 1)
                if cursor == b"0":
                    break
    return MemoryResult("redis hash", sessions, (after - before) / sessions, "used_memory growth")
