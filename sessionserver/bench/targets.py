"""What ``sessionserver bench`` starts for a ``--storage`` choice, and how it drives it.

A target is measured in rounds that alternate with Redis running the same work (Redis first),
so that each ratio compares runs seconds apart on the same machine; each figure is the median
of its rounds, and beside cycles/s stands the CPU per cycle of the processes that serve them
(the daemons, plus the store's server where the daemons store in one), from ``/proc``.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .cpu import Window, redis_pid
from .loadgen import run_loadgen
from .results import Result, median
from .workload import REDIS_CYCLE, Cycle

__all__ = ["Target", "check_prefix", "cleanup_redis", "measure", "storage_target"]

#: --storage shorthands
_SHORTHANDS = {"memory": "memory://", "default": "", "sqlite": "", "file": "file"}
#: Shared stores, as NAME or NAME-x2 (two daemons on the one store).
_SHARED = ("redis", "postgres")
#: What a --key-prefix may be: it names Redis keys and a PostgreSQL schema.
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,39}")


def check_prefix(prefix: str) -> str | None:
    """Why ``prefix`` cannot name the bench's keys and schemas, or None."""
    if _PREFIX.fullmatch(prefix):
        return None
    return "must be 1 to 40 lowercase letters, digits or _, starting with a letter"


@dataclass
class Target:
    label: str
    args: list[str]
    daemons: int = 1
    cleanup: Callable[[], None] | None = None
    #: The store's own server processes, whose CPU counts with the daemons'.
    store_pids: Callable[[], list[int]] = field(default=lambda: [])


def storage_target(
    name: str, workdir: Path, redis_port: int, postgres_url: str, prefix: str
) -> Target:
    """What to start for a --storage choice; shared stores get keys or a schema of their own,
    named after ``prefix``, removed by the target's ``cleanup``."""
    base, _, times = name.partition("-x")
    if base in _SHARED and times in ("", "2"):
        daemons = int(times or 1)
        unique = f"{prefix}_{secrets.token_hex(4)}"
        suffix = f", {daemons} daemons" if daemons > 1 else ""
        if base == "redis":
            url = f"redis://127.0.0.1:{redis_port}/0?prefix={unique}"
            return Target(
                f"redis://{suffix}",
                ["--storage", url],
                daemons,
                lambda: cleanup_redis(redis_port, unique),
                lambda: [redis_pid(redis_port)],
            )
        sep = "&" if "?" in postgres_url else "?"
        return Target(
            f"postgresql://{suffix}",
            ["--storage", f"{postgres_url}{sep}schema={unique}"],
            daemons,
            lambda: _drop_schema(postgres_url, unique),
            _postgres_pids,
        )
    url = _SHORTHANDS.get(name, name)
    if url == "":
        return Target(f"{name} (sqlite, durable default)", ["--data-dir", str(workdir / "data")])
    if url == "file":
        return Target("file://", ["--storage", f"file://{workdir / 'files'}"])
    return Target(url, ["--storage", url])


def _postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (its backends do the work)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as fh:
                    if fh.read().strip() == "postgres":
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def _drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url.split("?", 1)[0], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def cleanup_redis(port: int, prefix: str) -> None:
    """Delete every key under ``prefix:`` (one round trip, no client library)."""
    from .memory import _resp

    with socket.create_connection(("127.0.0.1", port)) as sock:
        script = (
            "local n=0 local c='0' repeat local r=redis.call('SCAN',c,'MATCH',ARGV[1],'COUNT',"
            "1000) c=r[1] for _,k in ipairs(r[2]) do redis.call('DEL',k) n=n+1 end "
            "until c=='0' return n"
        )
        sock.sendall(_resp("EVAL", script, "0", f"{prefix}:*"))
        sock.recv(1024)


def _drive(loadgen: str | None, **kwargs: Any) -> Result:
    if loadgen:
        return run_loadgen(loadgen, **kwargs)
    from .driver import run_driver

    return run_driver(**kwargs)


def _drive_all(loadgen: str | None, ports: list[int], **kwargs: Any) -> Result:
    """Drive several daemons at once (the connections split between them); one result."""
    if len(ports) == 1:
        return _drive(loadgen, port=ports[0], **kwargs)
    conns = kwargs.pop("conns")
    with ThreadPoolExecutor(len(ports)) as pool:
        results = list(
            pool.map(
                lambda i: _drive(
                    loadgen,
                    port=ports[i],
                    conns=conns // len(ports) + (i < conns % len(ports)),
                    **kwargs,
                ),
                range(len(ports)),
            )
        )
    return Result(
        target=results[0].target,
        cycles_per_s=sum(r.cycles_per_s for r in results),
        p50_us=max(r.p50_us for r in results),
        p99_us=max(r.p99_us for r in results),
        errors=sum(r.errors for r in results),
        driver=results[0].driver,
    )


def _timed(run: Callable[[], Result], pids: list[int], warmup: float, duration: float) -> Result:
    """``run`` with the CPU ``pids`` use in its measured window, per cycle."""
    alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    window = Window(alive, warmup, duration)
    result = run()
    try:
        cpu = window.seconds()
    except FileNotFoundError:  # a process went away: no CPU figure rather than a wrong one
        return result
    cycles = result.cycles_per_s * duration
    return replace(result, cpu_us_per_cycle=cpu / cycles * 1e6 if cycles else None)


def measure(
    loadgen: str | None,
    target: Target,
    daemons: list[Any],
    cycle: Cycle,
    *,
    rounds: int,
    redis_port: int,
    prefix: str,
    conns: int,
    duration: float,
    warmup: float,
) -> tuple[Result, Result]:
    """The target's median over ``rounds``, and Redis's, alternating (Redis first)."""
    timing = dict(conns=conns, duration=duration, warmup=warmup)
    redis_pids = [redis_pid(redis_port)]
    serving = [d.pid for d in daemons] + target.store_pids()
    ours: list[Result] = []
    theirs: list[Result] = []
    keys = f"{prefix}_{secrets.token_hex(4)}"
    try:
        for _ in range(rounds):
            theirs.append(
                _timed(
                    lambda: _drive(
                        loadgen,
                        target="redis",
                        port=redis_port,
                        framing="resp",
                        script=REDIS_CYCLE.replace("{prefix}", keys),
                        setup=None,
                        **timing,
                    ),
                    redis_pids,
                    warmup,
                    duration,
                )
            )
            ours.append(
                _timed(
                    lambda: _drive_all(
                        loadgen,
                        [d.port for d in daemons],
                        target=target.label,
                        framing=cycle.framing,
                        script=cycle.script,
                        setup=cycle.setup,
                        **timing,
                    ),
                    serving,
                    warmup,
                    duration,
                )
            )
    finally:
        cleanup_redis(redis_port, keys)
    return (
        replace(median(ours), cycle=cycle.name),
        replace(median(theirs), cycle=cycle.name),
    )
