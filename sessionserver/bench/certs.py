"""Throwaway TLS certificates made with the ``openssl`` command: a CA, a server certificate it
signs for the given host names and addresses, and a client certificate.  The benchmark's TLS
runs and the tests use them; they are valid for two days and never leave their folder."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certificates", "make_certificates"]

#: P-256 keys: generated in milliseconds, unlike RSA ones.
_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]


@dataclass(frozen=True)
class Certificates:
    """PEM files in one folder."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(
    folder: Path, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> Certificates:
    """A CA and the server and client certificates it signed, in ``folder``.

    Raises:
        RuntimeError: ``openssl`` is not installed, or failed (its message).
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make TLS certificates")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    _run(
        openssl,
        "req",
        "-x509",
        *_KEY,
        "-keyout",
        ca_key,
        "-out",
        ca,
        "-subj",
        "/CN=sessionserver throwaway CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    names = ",".join(f"IP:{h}" if _is_address(h) else f"DNS:{h}" for h in hosts)
    files = []
    for role, usage, extra in (
        ("server", "serverAuth", ["-addext", f"subjectAltName={names}"]),
        ("client", "clientAuth", []),
    ):
        cert, key = folder / f"{role}.pem", folder / f"{role}.key"
        _run(
            openssl,
            "req",
            "-x509",
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            *_KEY,
            "-keyout",
            key,
            "-out",
            cert,
            "-subj",
            f"/CN={hosts[0] if role == 'server' else 'sessionserver client'}",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            f"extendedKeyUsage={usage}",
            *extra,
        )
        files += [cert, key]
    return Certificates(ca, *files)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _run(*argv: str | Path) -> None:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"openssl failed: {done.stderr.strip().splitlines()[-1:]}")
