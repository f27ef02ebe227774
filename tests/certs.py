"""Throwaway self-signed certificates for 127.0.0.1, made by ``openssl``, for the TLS tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["self_signed"]


def self_signed(workdir: Path, name: str = "server") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key: (cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is needed for the TLS tests")
    cert, key = workdir / f"{name}-cert.pem", workdir / f"{name}-key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
