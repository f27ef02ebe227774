"""A TCP proxy that tests can cut, to take a store away from a daemon and give it back.

``down("refuse")`` drops every connection and refuses new ones (the store's host is up, its
server is not); ``down("blackhole")`` keeps connections open but forwards nothing, and new
ones are accepted and never answered (a partition: only timeouts tell).  ``up()`` restores.
``reset()`` resets every connection (a TCP RST to both ends) and goes on accepting.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Literal, Self

__all__ = ["Proxy"]


class Proxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode: Literal["up", "refuse", "blackhole"] = "up"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._held: list[socket.socket] = []
        self._listener = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        sock.settimeout(0.1)
        return sock

    def _accept_loop(self) -> None:
        while not self._closed:
            listener = self._listener
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                mode = self.mode
            if mode == "refuse":
                client.close()
                continue
            if mode == "blackhole":
                with self._lock:
                    self._held.append(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(None)
            with self._lock:
                self._pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.mode == "blackhole" and not self._closed:
                    threading.Event().wait(0.02)  # hold it: nothing gets through
                if self.mode != "up":
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
            held, self._held = self._held, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
        for s in held:
            s.close()

    def down(self, mode: Literal["refuse", "blackhole"] = "refuse") -> None:
        with self._lock:
            self.mode = mode
        if mode == "refuse":
            self._drop_all()

    def reset(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()

    def up(self) -> None:
        with self._lock:
            self.mode = "up"
        self._drop_all()  # blackholed connections are useless now: clients reconnect

    def close(self) -> None:
        self._closed = True
        self._drop_all()
        self._listener.close()
        self._thread.join(2)
