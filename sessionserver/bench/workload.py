"""The session cycle a web request costs, for the daemon and the same for Redis.

One cycle is two phases, each sent in one write:

- read: ``open <id> r``, ``get_all``, ``close`` (Redis: ``HGETALL``, ``EXPIRE``)
- write: ``open <id> w``, five ``put``, ``close`` (Redis: ``HSET`` of five fields, ``EXPIRE``)

The one-command cycle does the same as ``read <id>`` and ``write <id> ...`` (what the adapters
send for a web request).

Each connection works on its own session, created before the timed run.  The scripts are in
the format of the C load generator in ``shared/tools/loadgen`` so that both drivers run exactly
the same requests.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CYCLES",
    "REDIS_CYCLE",
    "SERVER_CYCLE",
    "SERVER_SETUP",
    "Cycle",
    "Phase",
    "parse_script",
]

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


#: The same two phases as one command each (RESP2): ``read`` and a ``write`` of five keys.
ONE_COMMAND_CYCLE = """\
read {sid}
---
write {sid} 5 k1 v1 k2 v2 k3 v3 k4 v4 k5 v5
"""


@dataclass(frozen=True)
class Cycle:
    """A cycle the daemon runs (against :data:`REDIS_CYCLE` on Redis, the same work)."""

    name: str
    framing: str
    setup: str
    script: str


#: --cycle choices
CYCLES = {
    "text": Cycle("text", "text", SERVER_SETUP, SERVER_CYCLE),
    "one-command": Cycle("one-command", "resp", "sid=create\n", ONE_COMMAND_CYCLE),
}


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
