"""Drive a target with the C load generator of ``shared/tools/loadgen`` (the yardstick).

It keeps the Python client out of the measurement: one thread, epoll, about a third of a core
for this workload.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from .results import Result

__all__ = ["run_loadgen"]


def run_loadgen(
    binary: str,
    *,
    target: str,
    port: int,
    framing: str,
    script: str,
    setup: str | None,
    conns: int,
    duration: float,
    warmup: float,
) -> Result:
    with tempfile.TemporaryDirectory(prefix="ssbench-") as tmp:
        script_path = Path(tmp) / "cycle.txt"
        script_path.write_text(script)
        argv = [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--framing",
            framing,
            "--script",
            str(script_path),
            "--conns",
            str(conns),
            "--duration",
            f"{duration:g}",
            "--warmup",
            f"{warmup:g}",
            "--json",
        ]
        if setup is not None:
            setup_path = Path(tmp) / "setup.txt"
            setup_path.write_text(setup)
            argv += ["--setup", str(setup_path)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed ({proc.returncode}): {proc.stderr.strip()}")
    data = json.loads(proc.stdout)
    latency = data["cycle_latency_us"]
    return Result(
        target=target,
        cycles_per_s=float(data["cycles_per_s"]),
        p50_us=float(latency["p50"]),
        p99_us=float(latency["p99"]),
        errors=int(data["error_replies"]),
        driver="loadgen",
    )
