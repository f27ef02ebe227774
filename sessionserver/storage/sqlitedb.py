"""The SQLite database behind the embedded default: its schema and its statements.

Everything here runs on the container's database thread (see :mod:`.sqlite`); failures are
:class:`StorageError` naming the file.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .base import StorageError

__all__ = ["CHUNK", "apply", "checkpoint", "connect"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    atime REAL NOT NULL,
    ttl INTEGER,
    deadline REAL
) WITHOUT ROWID;
"""
_SCHEMA_VERSION = 1

#: Rows per statement, and per database job: a big sync is cut into jobs so that journal
#: writes (whose replies are waiting) get the thread in between.
CHUNK = 500


def _upsert(n: int) -> str:
    return (
        "INSERT INTO sessions (sid, data, atime, ttl, deadline) VALUES "
        + ",".join(["(?,?,?,?,?)"] * n)
        + " ON CONFLICT (sid) DO UPDATE SET data = excluded.data, atime = excluded.atime, "
        "ttl = excluded.ttl, deadline = excluded.deadline"
    )


def _delete(n: int) -> str:
    return "DELETE FROM sessions WHERE sid IN (" + ",".join(["?"] * n) + ")"


def connect(path: str) -> tuple[sqlite3.Connection, list[tuple[Any, ...]]]:
    """Open (creating it if need be) the database at ``path``; its rows, as
    ``(sid, data, atime, ttl, deadline)``."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=0")  # ours run after each sync
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _SCHEMA_VERSION):
            raise StorageError(f"{path} has schema version {version}, not {_SCHEMA_VERSION}")
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        rows = db.execute("SELECT sid, data, atime, ttl, deadline FROM sessions").fetchall()
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: {exc}") from None
    return db, rows


def apply(
    db: sqlite3.Connection, path: str, rows: list[tuple[Any, ...]], deletes: list[str]
) -> None:
    """Write ``rows`` (as :func:`connect` returns them) and delete ``deletes``, in one
    transaction."""
    try:
        with db:
            for start in range(0, len(rows), CHUNK // 5):
                chunk = rows[start : start + CHUNK // 5]
                db.execute(_upsert(len(chunk)), [v for row in chunk for v in row])
            for start in range(0, len(deletes), CHUNK):
                chunk_ids = deletes[start : start + CHUNK]
                db.execute(_delete(len(chunk_ids)), chunk_ids)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: {exc}") from None


def checkpoint(db: sqlite3.Connection, path: str) -> None:
    """Bring the database file up to date with its WAL, durably."""
    try:
        # With synchronous=NORMAL a checkpoint fsyncs the WAL, then the database: after it,
        # the journals that the synced rows came from are no longer needed, even across a
        # power loss.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: {exc}") from None
