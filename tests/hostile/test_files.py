"""Every file the daemon creates is its user's only: 0600 files, 0700 folders (the embedded
default's SQLite files were 0644)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ..conftest import StartDaemon


@pytest.mark.parametrize("storage", ["sqlite", "file"])
def test_files_and_folders_are_private(
    start_daemon: StartDaemon, tmp_path: Path, storage: str
) -> None:
    root = tmp_path / "state" / "deep"
    args = ["--data-dir", str(root)] if storage == "sqlite" else ["--storage", f"file://{root}"]
    daemon = start_daemon(*args)
    with daemon.client() as c:
        for _ in range(5):
            assert c.cmd("create").startswith("ok ")
        _check(tmp_path / "state")  # while it runs (SQLite's WAL and shared memory too)
    daemon.stop()
    _check(tmp_path / "state")


def _check(top: Path) -> None:
    made = [top, *top.rglob("*")]
    assert len(made) >= 4, made
    for path in made:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
