"""Limits that hold: --max-sessions."""

from __future__ import annotations

import pytest

from ..conftest import StartDaemon
from .attack import stats, until


@pytest.mark.parametrize("storage", ["memory://", "sqlite"])
def test_max_sessions_refuses_new_and_create_and_stores_nothing(
    start_daemon: StartDaemon, storage: str
) -> None:
    """Before: one connection created 60k-100k sessions a second, with no limit at all."""
    daemon = start_daemon(
        *(["--storage", storage] if storage != "sqlite" else []), "--max-sessions", "5"
    )
    with daemon.client() as c:
        made = [c.cmd("create")[3:] for _ in range(3)]
        made.append(c.new_session())
        assert c.cmd("new").startswith("ok ")
        assert c.cmd("close") == "ok"
        assert c.cmd("new") == "err Too many sessions."
        assert c.cmd("create") == "err Too many sessions."
        assert c.cmd('create a:1:{s:1:"k";s:1:"v";}') == "err Too many sessions."
        assert stats(daemon)["sessions"] == "5"
        # what exists still works; and a destroyed session makes room (once counted)
        assert c.cmd(f"open {made[0]} w") == "ok"
        assert c.cmd("destroy") == "ok"
        until(lambda: c.cmd("create").startswith("ok "), what="room for one more")
        assert c.cmd("create") == "err Too many sessions."
    assert "session limit reached (5, --max-sessions)" in daemon.log


def test_max_sessions_counts_what_the_store_holds_at_start(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    with daemon.client() as c:
        for _ in range(3):
            assert c.cmd("create").startswith("ok ")
    daemon.stop()
    daemon = start_daemon("--max-sessions", "3")
    with daemon.client() as c:
        assert c.cmd("create") == "err Too many sessions."
