"""A throwaway Redis Cluster of three primaries, started from ``redis-server`` for the tests of
``redis+cluster://`` and torn down after them (the machine's own Redis is a single server)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["RedisCluster"]


def _free_ports(n: int) -> list[int]:
    # Cluster nodes also listen on port + 10000 (the bus): both must be free.
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
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
