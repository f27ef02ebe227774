"""docs/protocol.md's table of differences from the original PEAR server, replayed: every row
that lists requests is sent on a fresh connection and must get exactly the replies the table
says this server sends, so the docs cannot drift from the daemon."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from ..helpers import Daemon

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
SECTION = DOC.split("## Differences from the original server", 1)[1].split("\n## ", 1)[0]
CODE = re.compile(r"`([^`]*)`")


def cells(row: str) -> list[str]:
    """The cells of a table row (``\\|`` is a literal bar inside a cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def spans(cell: str) -> list[str]:
    return [s.replace("\\|", "|").replace("␠", " ") for s in CODE.findall(cell)]


ROWS = [cells(line) for line in SECTION.splitlines() if line.startswith("| ")][1:]
REPLAYED = [(row[0], spans(row[1]), spans(row[3])) for row in ROWS if row[1]]


def test_the_table_lists_what_it_must() -> None:
    topics = " ".join(row[0] for row in ROWS)
    for topic in (
        "read mode",
        "`destroy` in read mode",
        "`keys` with no session",
        "`exists` and `remove` with no session",
        "empty key",
        "`\\|`",
        "trailing spaces",
        "unknown mode",
        "never issued",
        "putAll",
    ):
        assert topic in topics, topic
    assert len(REPLAYED) >= 20


@pytest.mark.parametrize(("what", "sent", "replies"), REPLAYED, ids=[r[0] for r in REPLAYED])
def test_each_difference_replays(
    memory_daemon: Daemon, what: str, sent: list[str], replies: list[str]
) -> None:
    assert len(sent) == len(replies), what
    unknown = secrets.token_hex(16)
    with memory_daemon.client() as c:
        sid = c.new_session(a="1")
        for line, expected in zip(sent, replies, strict=True):
            line = line.replace("$ID", sid).replace("$UNKNOWN", unknown)
            assert c.cmd(line) == expected, (what, line)
