"""What TLS costs: the text cycle and the Python clients against one daemon listening in
plain TCP and one listening in TLS, measured side by side in one run.

Both text-cycle runs use the Python driver (the C load generator speaks plain TCP only), so
their cycles/s are client-bound; the daemon's CPU time per cycle, read from
``/proc/<pid>/stat`` over the measured window, is the cost TLS adds to the daemon itself.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from ..process import DaemonProcess
from .certs import make_certificates
from .clients import PAIRS
from .cpu import Window, cpu_seconds
from .driver import run_driver
from .workload import SERVER_CYCLE, SERVER_SETUP

__all__ = ["TlsResult", "run_tls_bench"]


@dataclass(frozen=True)
class TlsResult:
    workload: str
    transport: str
    cycles_per_s: float
    p99_us: float | None
    daemon_cpu_us_per_cycle: float


def _text_cycle(daemon: DaemonProcess, tls: ssl.SSLContext | None, **run: float) -> TlsResult:
    conns, duration, warmup = int(run["conns"]), run["duration"], run["warmup"]
    window = Window([daemon.pid], warmup, duration)
    result = run_driver(
        target="text cycle",
        port=daemon.port,
        framing="text",
        script=SERVER_CYCLE,
        setup=SERVER_SETUP,
        conns=conns,
        duration=duration,
        warmup=warmup,
        tls=tls,
    )
    cpu = window.seconds()
    return TlsResult(
        "text cycle (python driver)",
        "TLS" if tls else "plain",
        result.cycles_per_s,
        result.p99_us,
        cpu / (result.cycles_per_s * duration) * 1e6,
    )


def _client_cycle(daemon: DaemonProcess, url: str, duration: float, warmup: float) -> TlsResult:
    from ..client import SessionClient

    with SessionClient(url) as client:
        sid = client.create()
        end = time.perf_counter() + warmup
        while time.perf_counter() < end:
            client.read(sid)
            client.write(sid, PAIRS)
        cpu = cpu_seconds(daemon.pid)
        start = time.perf_counter()
        end, n = start + duration, 0
        while time.perf_counter() < end:
            client.read(sid)
            client.write(sid, PAIRS)
            n += 1
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(daemon.pid) - cpu
    return TlsResult(
        "SessionClient read + write",
        "TLS" if url.startswith("sessionservers") else "plain",
        n / elapsed,
        None,  # not sampled per cycle
        cpu / n * 1e6,
    )


def run_tls_bench(workdir: Path, *, conns: int, duration: float, warmup: float) -> list[TlsResult]:
    """Plain, then TLS, for each workload; the two daemons run at once, each idle while the
    other is measured."""
    certs = make_certificates(workdir / "certs")
    tls_args = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]
    common = ["--storage", "memory://", "--max-connections", str(conns + 100)]
    plain = DaemonProcess.start(workdir / "plain", *common)
    try:
        secure = DaemonProcess.start(workdir / "tls", *common, *tls_args)
        try:
            context = ssl.create_default_context(cafile=str(certs.ca))
            run = {"conns": conns, "duration": duration, "warmup": warmup}
            results = [_text_cycle(plain, None, **run), _text_cycle(secure, context, **run)]
            for daemon, url in (
                (plain, f"sessionserver://127.0.0.1:{plain.port}"),
                (secure, f"sessionservers://127.0.0.1:{secure.port}?ca={certs.ca}"),
            ):
                results.append(_client_cycle(daemon, url, duration, warmup))
            return results
        finally:
            secure.stop()
    finally:
        plain.stop()
