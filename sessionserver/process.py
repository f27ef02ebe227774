"""Run ``sessionserver serve`` (and a throwaway Redis Cluster for it) as child processes: for
tests, benchmarks and examples.

The daemon is started on port 0 and this waits (polling its log, never sleeping a fixed time)
for the startup line that names the address it got.  :class:`RedisCluster` starts three
``redis-server`` primaries on free ports and joins them with ``redis-cli --cluster create``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

__all__ = ["DaemonProcess", "RedisCluster", "free_port", "wait_for_port"]

LISTENING = re.compile(r"listening on (\S+):(\d+)")


class DaemonProcess:
    """A daemon child process with its log in a file."""

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
        python: str = sys.executable,
    ) -> Self:
        """Start ``sessionserver serve --port 0 *args``; its data under ``workdir``."""
        workdir.mkdir(parents=True, exist_ok=True)
        n = len(list(workdir.glob("daemon-*.log")))
        log = workdir / f"daemon-{n}.log"
        argv = [python, "-m", "sessionserver", "serve", "--port", "0", *args]
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
        proc.wait()
        raise RuntimeError(f"daemon did not start:\n{log.read_text(errors='replace')}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit within 15 s; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    """Wait until ``proc`` (``what``, for the error) accepts connections on 127.0.0.1:``port``.

    Raises:
        RuntimeError: it exited first, or did not listen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up")


def _free_ports(n: int) -> list[int]:
    # Cluster nodes also listen on port + 10000 (the bus): both must be free.
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


class RedisCluster:
    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if server is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are needed for the cluster tests")
        self.ports = _free_ports(nodes)
        self.procs: list[subprocess.Popen[bytes]] = []
        for port in self.ports:
            d = workdir / str(port)
            d.mkdir(parents=True)
            self.procs.append(
                subprocess.Popen(
                    [
                        server,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--dir",
                        str(d),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--logfile",
                        str(d / "redis.log"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        try:
            for port in self.ports:
                self._wait(cli, port, "ping", "PONG")
            subprocess.run(
                [
                    cli,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{p}" for p in self.ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            for port in self.ports:
                self._wait(cli, port, "cluster info", "cluster_state:ok")
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _wait(cli: str, port: int, command: str, expect: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(
                [cli, "-p", str(port), *command.split()], capture_output=True, text=True
            ).stdout
            if expect in out:
                return
            time.sleep(0.1)
        raise RuntimeError(f"redis cluster node {port}: no {expect!r} within 30 s")

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
