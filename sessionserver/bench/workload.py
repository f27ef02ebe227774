"""The session cycle a web request costs, for the daemon and the same for Redis.

One cycle is two phases, each sent in one write:

- read: ``open <id> r``, ``get_all``, ``close`` (Redis: ``HGETALL``, ``EXPIRE``)
- write: ``open <id> w``, five ``put``, ``close`` (Redis: ``HSET`` of five fields, ``EXPIRE``)

Each connection works on its own session, created before the timed run.  The scripts are in
the format of the C load generator in ``shared/tools/loadgen`` so that both drivers run exactly
the same requests.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REDIS_CYCLE", "SERVER_CYCLE", "SERVER_SETUP", "Phase", "parse_script"]

SERVER_SETUP = "sid=new\nclose\n"

SERVER_CYCLE = """\
open {sid} r
get_all
close
---
open {sid} w
put k1 v1
put k2 v2
put k3 v3
put k4 v4
put k5 v5
close
"""

# {prefix} is filled in per run so that the keys can be deleted afterwards.
REDIS_CYCLE = """\
HGETALL {prefix}:sess:{sid}
EXPIRE {prefix}:sess:{sid} 1440
---
HSET {prefix}:sess:{sid} k1 v1 k2 v2 k3 v3 k4 v4 k5 v5
EXPIRE {prefix}:sess:{sid} 1440
"""


@dataclass(frozen=True)
class Phase:
    lines: tuple[str, ...]


def parse_script(text: str) -> list[Phase]:
    """Phases separated by ``---`` lines; blank and ``#`` lines skipped."""
    phases: list[list[str]] = [[]]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "---":
            phases.append([])
        else:
            phases[-1].append(line)
    return [Phase(tuple(p)) for p in phases if p]
