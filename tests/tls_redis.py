"""A throwaway Redis speaking TLS only, with a certificate made by ``openssl`` (the helper the
daemon's TLS tests share), for the tests of ``rediss://``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from sessionserver.bench.certs import make_certificates

__all__ = ["TlsRedis"]


class TlsRedis:
    def __init__(self, workdir: Path) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is needed for the TLS tests")
        certs = make_certificates(workdir)
        #: The CA a client trusts (the server's certificate is signed by it).
        self.cert = certs.ca
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc = subprocess.Popen(
            [
                server,
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--tls-cert-file",
                str(certs.server_cert),
                "--tls-key-file",
                str(certs.server_key),
                "--tls-ca-cert-file",
                str(certs.ca),
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("the TLS redis-server did not start") from None
                time.sleep(0.05)

    def url(self, prefix: str) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?prefix={prefix}&ssl_ca_certs={self.cert}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
