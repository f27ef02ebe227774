"""The ``sessionserver bench`` command."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click

from ..process import DaemonProcess
from .results import Result, format_table
from .targets import check_prefix, measure, storage_target
from .workload import CYCLES

__all__ = ["bench"]


@click.command()
@click.option(
    "--storage",
    "storages",
    multiple=True,
    metavar="NAME|URL",
    help="What to benchmark, repeatable: memory, default (the durable SQLite store), "
    "file, redis, postgres (the shared stores; redis-x2 and postgres-x2 run two daemons on "
    "the one store, the connections split between them), or a storage URL.  Default: memory "
    "and default.",
)
@click.option(
    "--postgres-url",
    default="postgresql://postgres@127.0.0.1:5432/test",
    show_default=True,
    help="The PostgreSQL database for --storage postgres (a fresh schema, dropped after).",
)
@click.option(
    "--cycle",
    "cycles",
    multiple=True,
    type=click.Choice(list(CYCLES)),
    help="Which cycle the daemons run, repeatable: text (open, get_all, close / open, five "
    "puts, close) or one-command (read / write, as the adapters send).  Default: text.",
)
@click.option(
    "--rounds",
    default=1,
    show_default=True,
    type=click.IntRange(1, 99),
    help="Rounds per target, alternating with Redis; each figure is the median.",
)
@click.option(
    "--key-prefix",
    default="ssbench",
    show_default=True,
    help="Prefix of every Redis key and PostgreSQL schema the bench makes (and removes).",
)
@click.option("--conns", default=50, show_default=True, help="Concurrent connections.")
@click.option("--duration", default=10.0, show_default=True, help="Measured seconds per run.")
@click.option("--warmup", default=2.0, show_default=True, help="Unmeasured seconds first.")
@click.option(
    "--redis-port",
    default=6379,
    show_default=True,
    help="Redis on 127.0.0.1 to compare with, run just before each target.",
)
@click.option(
    "--loadgen",
    envvar="SESSIONSERVER_LOADGEN",
    show_envvar=True,
    metavar="PATH",
    help="The C load generator of shared/tools/loadgen (else a Python driver, whose "
    "own CPU use makes the figures client-bound).",
)
@click.option(
    "--memory/--no-memory",
    "memory",
    default=True,
    show_default=True,
    help="Also measure memory per idle session against Redis.",
)
@click.option(
    "--memory-sessions",
    default=100_000,
    show_default=True,
    help="Sessions created for the memory measurement.",
)
@click.option(
    "--clients/--no-clients",
    "clients",
    default=True,
    show_default=True,
    help="Also run the cycle through SessionClient and AsyncSessionClient against "
    "redis-py on Redis.",
)
@click.option(
    "--http/--no-http",
    "http",
    default=True,
    show_default=True,
    help="Also measure requests/s of a Flask app (gunicorn) and a Starlette app (uvicorn) "
    "through this project against Flask-Session and starsessions on Redis.",
)
@click.option(
    "--tls/--no-tls",
    "tls",
    default=False,
    show_default=True,
    help="Also measure what TLS costs: the text cycle and SessionClient against a daemon "
    "in plain TCP and one in TLS, side by side (certificates made with openssl).",
)
@click.option(
    "--http-conns",
    default=16,
    show_default=True,
    help="Concurrent HTTP connections (each its own session).",
)
@click.option(
    "--tasks", default=16, show_default=True, help="Concurrent coroutines for the async clients."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench(
    storages: tuple[str, ...],
    postgres_url: str,
    cycles: tuple[str, ...],
    rounds: int,
    key_prefix: str,
    conns: int,
    duration: float,
    warmup: float,
    redis_port: int,
    loadgen: str | None,
    memory: bool,
    memory_sessions: int,
    clients: bool,
    http: bool,
    tls: bool,
    http_conns: int,
    tasks: int,
    as_json: bool,
) -> None:
    """Measure the session cycle of a web request against the daemon and against Redis.

    One cycle is a read phase (open r, get_all, close) and a write phase (open w, five puts,
    close), each sent in one write, per connection, closed loop.  Redis runs the same cycle on
    a hash (HGETALL + EXPIRE, HSET of five fields + EXPIRE), measured just before each target
    in the same run, so each ratio compares two runs seconds apart on the same machine.
    """
    bad_prefix = check_prefix(key_prefix)
    if bad_prefix:
        raise click.BadParameter(bad_prefix, param_hint="--key-prefix")
    loadgen = loadgen or shutil.which("loadgen")
    if loadgen and not os.access(loadgen, os.X_OK):
        raise click.UsageError(f"--loadgen {loadgen}: not an executable")
    if not loadgen:
        try:
            import hiredis  # noqa: F401
        except ImportError:
            raise click.UsageError(
                "the Python driver needs hiredis: pip install 'sessionserver[bench]'"
            ) from None
    needs = [
        *(["redis"] if clients or http else []),
        *(
            ["flask", "flask_session", "gunicorn", "uvicorn", "starlette", "starsessions"]
            if http
            else []
        ),
    ]
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        raise click.UsageError(
            f"missing {', '.join(missing)}: pip install 'sessionserver[bench]' "
            "(or leave those measurements out with --no-clients / --no-http)"
        )
    driver = f"loadgen ({loadgen})" if loadgen else "python (client-bound: use --loadgen)"
    pairs: list[tuple[Result, Result]] = []
    memory_results = []
    client_results: list[Any] = []
    http_results: list[Any] = []
    tls_results: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="sessionserver-bench-") as tmp:
        workdir = Path(tmp)
        for name in storages or ("memory", "default"):
            workspace = workdir / f"run{len(pairs)}"
            run = storage_target(name, workspace, redis_port, postgres_url, key_prefix)
            try:
                daemons = [
                    DaemonProcess.start(
                        workspace / str(i), *run.args, "--max-connections", str(conns + 100)
                    )
                    for i in range(run.daemons)
                ]
                try:
                    for cycle in cycles or ("text",):
                        pairs.append(
                            measure(
                                loadgen,
                                run,
                                daemons,
                                CYCLES[cycle],
                                rounds=rounds,
                                redis_port=redis_port,
                                prefix=key_prefix,
                                conns=conns,
                                duration=duration,
                                warmup=warmup,
                            )
                        )
                finally:
                    for daemon in daemons:
                        daemon.stop()
            finally:
                if run.cleanup is not None:
                    run.cleanup()
            if not as_json:
                click.echo(f"measured {run.label}", err=True)
        if memory:
            from .memory import measure_daemon, measure_redis

            daemon = DaemonProcess.start(workdir / "memory", "--storage", "memory://")
            try:
                memory_results.append(measure_daemon(daemon, memory_sessions))
            finally:
                daemon.stop()
            memory_results.append(
                measure_redis("127.0.0.1", redis_port, memory_sessions, key_prefix)
            )
        if clients:
            from .clients import run_client_bench

            daemon = DaemonProcess.start(
                workdir / "clients", "--storage", "memory://", "--max-connections", "1000"
            )
            try:
                client_results = run_client_bench(
                    f"sessionserver://{daemon.host}:{daemon.port}",
                    redis_port,
                    duration,
                    tasks,
                    key_prefix,
                )
            finally:
                daemon.stop()
        if tls:
            from .tls import run_tls_bench

            tls_results = run_tls_bench(
                workdir / "tls", conns=conns, duration=duration, warmup=warmup
            )
        if http:
            from .web import run_http_bench

            daemon = DaemonProcess.start(
                workdir / "http", "--storage", "memory://", "--max-connections", "1000"
            )
            try:
                http_results = run_http_bench(
                    f"sessionserver://{daemon.host}:{daemon.port}",
                    redis_port,
                    http_conns,
                    duration,
                    warmup,
                    daemon_pid=daemon.pid,
                    prefix=key_prefix,
                )
            finally:
                daemon.stop()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "conns": conns,
                    "duration": duration,
                    "warmup": warmup,
                    "rounds": rounds,
                    "driver": driver,
                    "runs": [
                        {
                            "target": r.as_dict(),
                            "redis": redis.as_dict(),
                            "cycles_ratio": r.cycles_per_s / redis.cycles_per_s,
                            "cpu_ratio": (
                                r.cpu_us_per_cycle / redis.cpu_us_per_cycle
                                if r.cpu_us_per_cycle and redis.cpu_us_per_cycle
                                else None
                            ),
                            "p99_ratio": r.p99_us / redis.p99_us,
                        }
                        for r, redis in pairs
                    ],
                    "memory": [m.__dict__ for m in memory_results],
                    "clients": [c.__dict__ for c in client_results],
                    "http": [h.__dict__ for h in http_results],
                    "tls": [t.__dict__ for t in tls_results],
                },
                indent=2,
            )
        )
        return
    click.echo(
        f"session cycles, {conns} connections, {duration:g} s measured after {warmup:g} s, "
        f"median of {rounds} round(s) alternating with Redis, driver: {driver}; CPU us per "
        "cycle of the daemons (and of the store's server, for shared stores)"
    )
    click.echo(format_table(pairs))
    for m in memory_results:
        click.echo(
            f"memory per idle 5-field 200-byte session, {m.target}: "
            f"{m.bytes_per_session:,.0f} bytes ({m.note}, {m.sessions:,} sessions)"
        )
    if client_results:
        click.echo(
            f"session cycles through the Python clients (sync: 1 thread; async: {tasks} tasks), "
            "memory://, against redis-py (hiredis) on a Redis hash:"
        )
        for c in client_results:
            click.echo(f"  {c.client:<20} {c.variant:<20} {c.cycles_per_s:>10,.0f} cycles/s")
    if tls_results:
        click.echo(
            f"TLS against plain TCP, memory://, side by side ({conns} connections for the "
            "text cycle, one thread for SessionClient); daemon CPU per cycle:"
        )
        for t in tls_results:
            base = next(b for b in tls_results if b.workload == t.workload)
            ratio = f"  {t.cycles_per_s / base.cycles_per_s:.2f}x" if t is not base else ""
            click.echo(
                f"  {t.workload:<28} {t.transport:<6} {t.cycles_per_s:>10,.0f} cycles/s"
                f" {t.daemon_cpu_us_per_cycle:>7.0f} us CPU{ratio}"
            )
    if http_results:
        click.echo(
            f"HTTP requests/s of a view that reads and writes the session, {http_conns} "
            "connections, one worker; CPU per request of the worker and of the store:"
        )
        for h in http_results:
            ratio = ""
            if h.store.startswith("sessionserver"):
                base = next(b for b in http_results if b.app == h.app)  # Redis comes first
                if base.requests_per_s:
                    ratio = f"  {h.requests_per_s / base.requests_per_s:.2f}x"
            click.echo(
                f"  {h.app:<22} {h.store:<24} {h.requests_per_s:>10,.0f} req/s "
                f"{h.app_cpu_us:>6,.0f} + {h.store_cpu_us:>4,.0f} us{ratio}"
            )
