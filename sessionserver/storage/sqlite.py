"""``sqlite:///abs/file.db``: the embedded durable default.

Sessions are served from the same in-memory index as ``memory://``; every change is written
behind to a SQLite database (WAL mode) by one dedicated thread, in batches: everything that
changed while the previous batch was being written goes out as one transaction, one WAL write
and, with ``fsync always``, one fsync (group commit).  The daemon holds back the ``ok`` of a
write until the batch holding it has committed (:meth:`SqliteStorage.barrier`), so an
acknowledged write survives ``kill -9``; what survives a power loss is the fsync policy's
business:

- ``always``: ``synchronous=FULL``, the WAL is fsynced before every acknowledged batch.
- ``everysec``: ``synchronous=NORMAL`` and a checkpoint (which fsyncs the WAL, then the
  database) once a second: at most about a second of acknowledged writes can be lost, never the
  database's consistency.
- ``no``: ``synchronous=NORMAL`` and a checkpoint every ten seconds.

Access times are written behind lazily (a touch only when it moved by more than
``ttl / 20``, at most 60 s): after a crash a session may expire that much early, and reads do not
cost a disk write each.  On start the whole table is loaded into memory.

One daemon per database: a lock file next to it keeps a second daemon out.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from ..ids import is_valid_id
from . import url_path
from .base import StorageError, StorageOptions
from .index import Entry
from .memory import MemoryStorage, encode, pairs_of
from .pairs import pack, unpack
from .worker import Barrier, Worker

__all__ = ["SqliteStorage"]

logger = logging.getLogger(__name__)

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

# Every sqlite3 statement step releases and re-takes the GIL, and the writer thread has to win
# the GIL back from the busy event loop each time: so a batch is a few multi-row statements,
# not one statement per row.  Chunks stay far below SQLite's limit on parameters.
_CHUNK = 100


#: Retry a failed batch this often while the database refuses writes.
_RETRY = 1.0


def _upsert(n: int) -> str:
    return (
        "INSERT INTO sessions (sid, data, atime, ttl, deadline) VALUES "
        + ",".join(["(?,?,?,?,?)"] * n)
        + " ON CONFLICT (sid) DO UPDATE SET data = excluded.data, atime = excluded.atime, "
        "ttl = excluded.ttl, deadline = excluded.deadline"
    )


def _delete(n: int) -> str:
    return "DELETE FROM sessions WHERE sid IN (" + ",".join(["?"] * n) + ")"


def _touch(n: int) -> str:
    return (
        "WITH t(sid, atime) AS (VALUES " + ",".join(["(?,?)"] * n) + ") "
        "UPDATE sessions SET atime = (SELECT t.atime FROM t WHERE t.sid = sessions.sid) "
        "WHERE sid IN (SELECT sid FROM t)"
    )


def _chunks(items: list[Any], width: int) -> Iterator[tuple[int, list[Any]]]:
    """(rows in the chunk, their parameters flattened)."""
    step = _CHUNK
    for start in range(0, len(items), step):
        chunk = items[start : start + step]
        flat = [value for row in chunk for value in row] if width > 1 else chunk
        yield len(chunk), flat


Row = tuple[str, object, float, int | None, float | None]


class SqliteStorage(MemoryStorage):
    """Memory index in front, SQLite behind; see the module docstring."""

    scheme = "sqlite"
    write_behind = True
    persistent = True

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        self.path = url_path(url)
        self._worker: Worker | None = None
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._pending: dict[bytes, Entry | None] = {}
        self._touches: dict[bytes, float] = {}
        self._batch: Barrier | None = None
        self._scheduled = False
        self._writing: Barrier | None = None
        self._failure: BaseException | None = None
        self._unsynced = False
        self._sync_timer: asyncio.TimerHandle | None = None
        self._retry_timer: asyncio.TimerHandle | None = None
        self._touch_quantum = max(1.0, min(60.0, options.ttl / 20))
        # everysec: a checkpoint (which fsyncs the WAL first) every second; otherwise one every
        # ten seconds keeps the WAL short.
        self._sync_interval = 1.0 if options.fsync == "everysec" else 10.0
        self.batches_total = 0
        self.rows_total = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._worker = worker = Worker("sessionserver-sqlite")
        worker.start()
        try:
            rows = await worker.run(self._open)
        except BaseException:
            await worker.stop()
            self._worker = None
            raise
        now = time.time()
        index = self.index
        expired: list[str] = []
        for sid_text, data, atime, ttl, deadline in rows:
            sid = sid_text.encode()
            meta = None if ttl is None and deadline is None else (ttl, deadline)
            e = Entry(data, atime, meta)
            if not is_valid_id(sid) or index.expires(e) <= now:
                expired.append(sid_text)
                continue
            index.insert(sid, e)
        if expired:
            await worker.run(self._delete_rows, expired)
        logger.info("loaded %d sessions from %s", len(index), self.path)
        loop = asyncio.get_running_loop()
        self._sync_timer = loop.call_later(self._sync_interval, self._sync_tick)

    def _open(self) -> list[tuple[str, bytes, float, int | None, float | None]]:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise StorageError(f"another sessionserver is using {self.path}") from None
        self._lock_fd = lock_fd
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            sync = "FULL" if self.options.fsync == "always" else "NORMAL"
            db.execute(f"PRAGMA synchronous={sync}")
            # Checkpoints (which fsync with synchronous=NORMAL) run on our own clock, in
            # _sync_tick, not in the middle of a batch whose replies are waiting.
            db.execute("PRAGMA wal_autocheckpoint=0")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise StorageError(
                    f"{self.path} has schema version {version}, not {_SCHEMA_VERSION}"
                )
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            rows = db.execute("SELECT sid, data, atime, ttl, deadline FROM sessions").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None
        self._db = db
        return [(sid, encode(unpack(data)), atime, ttl, dl) for sid, data, atime, ttl, dl in rows]

    def _delete_rows(self, sids: list[str]) -> None:
        assert self._db is not None
        with self._db:
            for n, params in _chunks(sids, 1):
                self._db.execute(_delete(n), params)

    async def stop(self) -> None:
        for timer in (self._sync_timer, self._retry_timer):
            if timer is not None:
                timer.cancel()
        worker = self._worker
        if worker is None:
            return
        for _ in range(3):  # a failing database gets a few last chances
            if self._writing is None:
                self._flush()
            if self._writing is None:
                break
            await self._writing.wait()
        if self._pending:
            logger.error(
                "%d session changes could not be written to %s", len(self._pending), self.path
            )
        await worker.run(self._close)
        await worker.stop()
        self._worker = None

    def _close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- write-behind ---------------------------------------------------------------------------

    def barrier(self) -> Barrier | None:
        return self._batch

    def _persist(self, sid: bytes, e: Entry) -> None:
        self._pending[sid] = e
        if self._batch is None:
            self._batch = Barrier()
        if not self._scheduled:
            self._schedule()

    def _persist_delete(self, sid: bytes) -> None:
        self._pending[sid] = None
        self._touches.pop(sid, None)
        if self._batch is None:
            self._batch = Barrier()
        if not self._scheduled:
            self._schedule()

    def _persist_touch(self, sid: bytes, e: Entry, previous_atime: float) -> None:
        q = self._touch_quantum
        if e.atime // q != previous_atime // q:
            self._touches[sid] = e.atime
            if not self._scheduled:
                self._schedule()

    def _schedule(self) -> None:
        # Flush once the loop has run everything that is ready now: every write that arrived
        # in this iteration joins the batch (group commit).
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._writing is not None or not (self._pending or self._touches):
            return  # the batch in flight flushes again when it is done
        if self._worker is None:
            return  # stopped
        rows: list[Row] = []
        deletes: list[str] = []
        for sid, e in self._pending.items():
            if e is None:
                deletes.append(sid.decode())
            else:
                ttl, deadline = e.meta if e.meta is not None else (None, None)
                rows.append((sid.decode(), e.blob, e.atime, ttl, deadline))
        touches = [
            (sid.decode(), atime) for sid, atime in self._touches.items() if sid in self._map
        ]
        pending, self._pending = self._pending, {}
        self._touches = {}
        batch, self._batch = self._batch, None
        self._writing = writing = batch if batch is not None else Barrier()
        self._worker.post(
            self._write,
            (rows, deletes, touches),
            lambda _, error: self._written(error, writing, pending),
        )

    def _write(self, rows: list[Row], deletes: list[str], touches: list[Any]) -> None:
        db = self._db
        assert db is not None
        encoded = [
            (sid, pack(pairs_of(blob)), atime, ttl, deadline)
            for sid, blob, atime, ttl, deadline in rows
        ]
        try:
            with db:
                for n, params in _chunks(encoded, 5):
                    db.execute(_upsert(n), params)
                for n, params in _chunks(deletes, 1):
                    db.execute(_delete(n), params)
                for n, params in _chunks(touches, 2):
                    db.execute(_touch(n), params)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None
        self._unsynced = True

    def _written(
        self,
        error: BaseException | None,
        batch: Barrier,
        pending: dict[bytes, Entry | None],
    ) -> None:
        self._writing = None
        if error is None:
            self.batches_total += 1
            self.rows_total += len(pending)
            if self._failure is not None:
                logger.warning("writing to %s again", self.path)
            self._failure = None
            self.available = True
            batch.settle()
            self._flush()
            return
        if self._failure is None:
            logger.error("cannot write sessions: %s", error)
        self._failure = error
        self.available = False
        for sid, e in pending.items():  # retry what failed, unless it changed again since
            self._pending.setdefault(sid, e)
        batch.settle(StorageError(str(error)))
        loop = asyncio.get_running_loop()
        self._retry_timer = loop.call_later(_RETRY, self._flush)

    def _sync_tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._sync_timer = loop.call_later(self._sync_interval, self._sync_tick)
        if self._unsynced and self._worker is not None:
            self._unsynced = False
            self._worker.post(self._checkpoint, (), _log_failure)

    def _checkpoint(self) -> None:
        if self._db is not None:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def info(self) -> dict[str, int | float | str]:
        info = super().info()
        info.update(
            {
                "storage_batches_total": self.batches_total,
                "storage_rows_total": self.rows_total,
                "storage_pending": len(self._pending),
                "storage_available": int(self.available),
            }
        )
        return info


def _log_failure(_: object, error: BaseException | None) -> None:
    if error is not None:
        logger.error("checkpoint failed: %s", error)
