"""SIGTERM: every request the daemon has read, and every one waiting in its socket, is answered
(its reply, or ``err Server is shutting down.``) before the connection closes: no reset."""

from __future__ import annotations

import signal
import socket
import threading

import pytest

from ..conftest import StartDaemon
from .attack import raw

PING = {"text": b"ping\r\n", "resp": b"*1\r\n$4\r\nping\r\n"}
PONG = {"text": b"ok pong\r\n", "resp": b"+PONG\r\n"}
DOWN = {"text": b"err Server is shutting down.\r\n", "resp": b"-ERR Server is shutting down.\r\n"}


def _replies(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything until the server closes, and whether it closed cleanly (no reset)."""
    received = bytearray()
    sock.settimeout(30)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        return bytes(received), False
    finally:
        sock.close()
    return bytes(received), True


def _count(received: bytes, framing: str) -> tuple[int, int]:
    pongs, downs = received.count(PONG[framing]), received.count(DOWN[framing])
    assert pongs * len(PONG[framing]) + downs * len(DOWN[framing]) == len(received), received[:200]
    return pongs, downs


@pytest.mark.parametrize("framing", ["text", "resp"])
def test_requests_waiting_in_the_socket_are_answered(
    start_daemon: StartDaemon, framing: str
) -> None:
    """The daemon is stopped (SIGSTOP) while 20 clients pipeline 200 requests each, then
    told to shut down and woken: whatever it reads first, every request gets one reply."""
    daemon = start_daemon("--storage", "memory://")
    clients = [raw(daemon) for _ in range(20)]
    for sock in clients:
        sock.sendall(PING[framing])
        assert sock.recv(64) == PONG[framing]
    daemon.signal(signal.SIGSTOP)
    try:
        for sock in clients:
            sock.sendall(PING[framing] * 200)
        daemon.signal(signal.SIGTERM)
    finally:
        daemon.signal(signal.SIGCONT)
    for sock in clients:
        received, clean = _replies(sock)
        assert clean, "the connection was reset"
        assert sum(_count(received, framing)) == 200
    assert daemon.wait() == 0


@pytest.mark.parametrize("framing", ["text", "resp"])
def test_a_pipeline_longer_than_a_turn_is_answered_to_its_end(
    start_daemon: StartDaemon, framing: str
) -> None:
    """SIGTERM while the daemon works through megabytes of pipelined requests: the ones it
    had read and the ones still in its socket are all answered."""
    daemon = start_daemon("--storage", "memory://")
    sock = raw(daemon)
    count = 3 * 1024 * 1024 // len(PING[framing])
    sent = threading.Event()

    def send() -> None:
        sock.sendall(PING[framing] * count)
        sock.shutdown(socket.SHUT_WR)
        sent.set()

    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(_replies(sock)[0]))
    sender = threading.Thread(target=send)
    reader.start()
    sender.start()
    assert sent.wait(30)
    daemon.signal(signal.SIGTERM)
    reader.join(60)
    sender.join(5)
    pongs, downs = _count(received[0], framing)
    assert pongs + downs == count
    assert daemon.wait() == 0


def test_the_command_in_flight_gets_its_reply_and_the_rest_an_err(
    start_daemon: StartDaemon,
) -> None:
    """A client waits for a lock with 20,000 requests behind it, most still in the daemon's
    socket (it stops reading past 64 KiB).  Before: the queued ones were never answered and
    the close reset the connection."""
    daemon = start_daemon("--storage", "memory://", "--lock-timeout", "30")
    holder = daemon.client()
    sid = holder.new_session()
    assert holder.cmd(f"open {sid} w") == "ok"
    waiter = raw(daemon)
    waiter.sendall(f"open {sid} w\r\n".encode() + PING["text"] * 20_000)
    daemon.signal(signal.SIGTERM)  # the holder is idle: closed, its lock released
    received, clean = _replies(waiter)
    assert clean, "the connection was reset"
    assert received == b"ok\r\n" + DOWN["text"] * 20_000
    holder.close()
    assert daemon.wait() == 0
