"""`sessionserver bench --tls` measures plain and TLS side by side (figures not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_measures_tls_against_plain() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sessionserver",
            "bench",
            *("--json", "--duration", "0.5", "--warmup", "0.2", "--conns", "4"),
            *("--storage", "memory", "--no-memory", "--no-clients", "--no-http", "--tls"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["tls"]
    assert [(r["workload"].split()[0], r["transport"]) for r in rows] == [
        ("text", "plain"),
        ("text", "TLS"),
        ("SessionClient", "plain"),
        ("SessionClient", "TLS"),
    ]
    assert all(r["cycles_per_s"] > 0 and r["daemon_cpu_us_per_cycle"] > 0 for r in rows)
