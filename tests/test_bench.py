"""`sessionserver bench` runs end to end (its figures are not asserted: machines are noisy)."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys

from .stores import POSTGRES_URL


def _redis_keys(pattern: str) -> int:
    with socket.create_connection(("127.0.0.1", 6379)) as sock:
        sock.sendall(b"*2\r\n$4\r\nKEYS\r\n$%d\r\n%s\r\n" % (len(pattern), pattern.encode()))
        head = sock.recv(65536).split(b"\r\n", 1)[0]
    assert head.startswith(b"*"), head
    return int(head[1:])


def _postgres_schemas(pattern: str) -> int:
    import psycopg

    with psycopg.connect(POSTGRES_URL) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE %s", [pattern]
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_bench_runs_both_storages_the_memory_clients_and_http_measurements() -> None:
    # Its own prefix, so that other runs on this machine cannot be mistaken for its leftovers.
    prefix = f"sstest{secrets.token_hex(4)}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sessionserver",
            "bench",
            "--json",
            "--duration",
            "1",
            "--warmup",
            "0.5",
            "--conns",
            "4",
            "--memory-sessions",
            "2000",
            "--storage",
            "memory",
            "--storage",
            "default",
            "--storage",
            "redis-x2",
            "--storage",
            "postgres",
            "--cycle",
            "text",
            "--cycle",
            "one-command",
            "--key-prefix",
            prefix,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(run["target"]["target"], run["target"]["cycle"]) for run in report["runs"]] == [
        (target, cycle)
        for target in (
            "memory://",
            "default (sqlite, durable default)",
            "redis://, 2 daemons",
            "postgresql://",
        )
        for cycle in ("text", "one-command")
    ]
    for run in report["runs"]:
        assert run["target"]["cycles_per_s"] > 0 and run["target"]["errors"] == 0
        assert run["redis"]["cycles_per_s"] > 0 and run["redis"]["errors"] == 0
        assert run["target"]["p50_us"] <= run["target"]["p99_us"]
        # CPU per cycle beside throughput: the daemons' (and the store's), and Redis's own.
        assert run["target"]["cpu_us_per_cycle"] > 0 and run["redis"]["cpu_us_per_cycle"] > 0
        assert run["cpu_ratio"] > 0
    memory = {m["target"]: m for m in report["memory"]}
    assert memory["sessionserver memory://"]["bytes_per_session"] > 200
    assert memory["redis hash"]["bytes_per_session"] > 200
    clients = {(c["client"], c["variant"]): c["cycles_per_s"] for c in report["clients"]}
    for client in ("SessionClient", "AsyncSessionClient"):
        for variant in ("one command", "pipelined", "command by command"):
            assert clients[(client, variant)] > 0
    for client in ("redis-py", "redis.asyncio"):
        for variant in ("pipelined", "command by command"):
            assert clients[(client, variant)] > 0
    # Every HTTP reply was checked against the count kept in its session: no errors means no
    # session was lost or mixed up between connections.
    http = {(h["app"], h["store"]): h for h in report["http"]}
    assert set(http) == {
        ("Flask + gunicorn", "Flask-Session (Redis)"),
        ("Flask + gunicorn", "sessionserver"),
        ("Starlette + uvicorn", "starsessions (Redis)"),
        ("Starlette + uvicorn", "sessionserver"),
        ("Starlette + uvicorn", "sessionserver (autoload)"),
    }
    for h in http.values():
        assert h["requests_per_s"] > 0 and h["errors"] == 0
        assert h["app_cpu_us"] > 0 and h["store_cpu_us"] >= 0  # CPU per request, both sides
    assert _redis_keys(f"{prefix}*") == 0  # the shared-store runs too
    assert _postgres_schemas(f"{prefix}%") == 0  # it cleaned up after itself


def test_bench_with_the_python_driver_says_it_is_client_bound() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sessionserver",
            "bench",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
            "--conns",
            "2",
            "--no-memory",
            "--no-http",
            "--storage",
            "memory",
            "--rounds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "SESSIONSERVER_LOADGEN": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "driver: python (client-bound" in result.stdout
    assert "median of 2 round(s)" in result.stdout
    assert "memory://" in result.stdout


def test_bench_refuses_a_prefix_that_cannot_name_keys_and_schemas() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sessionserver", "bench", "--key-prefix", "Bad prefix!"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--key-prefix" in result.stderr and "Traceback" not in result.stderr
