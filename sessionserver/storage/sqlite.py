"""``sqlite:///abs/file.db``: the embedded durable default.

Sessions are served from the same in-memory index as ``memory://``; every change is written
behind to a SQLite database (WAL mode) by one dedicated thread, in batches: everything that
changed while the previous batch was being written goes out as one transaction, one WAL write
and, with ``fsync always``, one fsync (group commit).  The daemon holds back the ``ok`` of a
write until the batch holding it has committed (:meth:`SqliteStorage.barrier`), so an
acknowledged write survives ``kill -9``; what survives a power loss is the fsync policy's
business:

- ``always``: ``synchronous=FULL``, the WAL is fsynced before every acknowledged batch.
- ``everysec``: ``synchronous=NORMAL``, and the WAL is fsynced once a second: at most about a
  second of acknowledged writes can be lost, never the database's consistency.
- ``no``: ``synchronous=NORMAL``; SQLite syncs at checkpoints, the OS whenever it likes.

Access times are written behind lazily (a touch only when it moved by more than
``ttl / 20``, at most 60 s): after a crash a session may expire that much early, and reads do not
cost a disk write each.  On start the whole table is loaded into memory.

One daemon per database: a lock file next to it keeps a second daemon out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from typing import Any

from ..ids import is_valid_id
from . import url_path
from .base import StorageError, StorageOptions
from .index import Entry
from .memory import MemoryStorage, encode, pairs_of
from .pairs import pack, unpack

__all__ = ["SqliteStorage"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    atime REAL NOT NULL,
    ttl INTEGER,
    deadline REAL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
"""
_UPSERT = (
    "INSERT INTO sessions (sid, data, atime, ttl, deadline, expires) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (sid) DO UPDATE SET data = excluded.data, atime = excluded.atime, "
    "ttl = excluded.ttl, deadline = excluded.deadline, expires = excluded.expires"
)
_DELETE = "DELETE FROM sessions WHERE sid = ?"
_TOUCH = "UPDATE sessions SET atime = ?, expires = ? WHERE sid = ?"

#: Retry a failed batch this often while the database refuses writes.
_RETRY = 1.0

Row = tuple[str, object, float, int | None, float | None, float]


class SqliteStorage(MemoryStorage):
    """Memory index in front, SQLite behind; see the module docstring."""

    scheme = "sqlite"
    write_behind = True
    persistent = True

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        self.path = url_path(url)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._wal_fd: int | None = None
        self._pending: dict[bytes, Entry | None] = {}
        self._touches: dict[bytes, float] = {}
        self._batch: asyncio.Future[None] | None = None
        self._scheduled = False
        self._writing: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None
        self._unsynced = False
        self._sync_timer: asyncio.TimerHandle | None = None
        self._retry_timer: asyncio.TimerHandle | None = None
        self._touch_quantum = max(1.0, min(60.0, options.ttl / 20))
        self.batches_total = 0
        self.rows_total = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="sessionserver-sqlite"
        )
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(self._executor, self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
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
            await loop.run_in_executor(self._executor, self._delete_rows, expired)
        logger.info("loaded %d sessions from %s", len(index), self.path)
        if self.options.fsync == "everysec":
            self._sync_timer = loop.call_later(1.0, self._sync_tick)

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
            db.executescript(_SCHEMA)
            rows = db.execute("SELECT sid, data, atime, ttl, deadline FROM sessions").fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None
        self._db = db
        if self.options.fsync == "everysec":
            self._wal_fd = os.open(self.path + "-wal", os.O_RDONLY | os.O_CREAT, 0o600)
        return [(sid, encode(unpack(data)), atime, ttl, dl) for sid, data, atime, ttl, dl in rows]

    def _delete_rows(self, sids: list[str]) -> None:
        assert self._db is not None
        with self._db:
            self._db.executemany(_DELETE, [(sid,) for sid in sids])

    async def stop(self) -> None:
        for timer in (self._sync_timer, self._retry_timer):
            if timer is not None:
                timer.cancel()
        if self._executor is None:
            return
        loop = asyncio.get_running_loop()
        for _ in range(3):  # a failing database gets a few last chances
            while self._writing is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._writing)
            if not (self._pending or self._touches):
                break
            self._flush()
        if self._pending:
            logger.error(
                "%d session changes could not be written to %s", len(self._pending), self.path
            )
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        for fd in (self._wal_fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._wal_fd = self._lock_fd = None

    # -- write-behind ---------------------------------------------------------------------------

    def barrier(self) -> asyncio.Future[None] | None:
        return self._batch

    def _persist(self, sid: bytes, e: Entry) -> None:
        self._pending[sid] = e
        self._changed()

    def _persist_delete(self, sid: bytes) -> None:
        self._pending[sid] = None
        self._touches.pop(sid, None)
        self._changed()

    def _persist_touch(self, sid: bytes, e: Entry, previous_atime: float) -> None:
        q = self._touch_quantum
        if e.atime // q != previous_atime // q:
            self._touches[sid] = e.atime
            if not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)

    def _changed(self) -> None:
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = loop.create_future()
            # Every connection waiting on a failed batch is closed; nobody needs to read it.
            self._batch.add_done_callback(_consume_exception)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._writing is not None or not (self._pending or self._touches):
            return  # the batch in flight flushes again when it is done
        assert self._executor is not None
        rows: list[Row] = []
        deletes: list[tuple[str]] = []
        expires = self.index.expires
        for sid, e in self._pending.items():
            if e is None:
                deletes.append((sid.decode(),))
            else:
                ttl, deadline = e.meta if e.meta is not None else (None, None)
                rows.append((sid.decode(), e.blob, e.atime, ttl, deadline, expires(e)))
        touches = []
        for sid, atime in self._touches.items():
            e = self._map.get(sid)
            if e is not None:
                touches.append((atime, expires(e), sid.decode()))
        pending, self._pending = self._pending, {}
        self._touches = {}
        batch, self._batch = self._batch, None
        loop = asyncio.get_running_loop()
        self._writing = writing = loop.run_in_executor(
            self._executor, self._write, rows, deletes, touches
        )
        writing.add_done_callback(lambda done: self._written(done, batch, pending))

    def _write(self, rows: list[Row], deletes: list[tuple[str]], touches: list[Any]) -> None:
        db = self._db
        assert db is not None
        encoded = [
            (sid, pack(pairs_of(blob)), atime, ttl, deadline, expires)
            for sid, blob, atime, ttl, deadline, expires in rows
        ]
        try:
            with db:
                if encoded:
                    db.executemany(_UPSERT, encoded)
                if deletes:
                    db.executemany(_DELETE, deletes)
                if touches:
                    db.executemany(_TOUCH, touches)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None
        self._unsynced = True

    def _written(
        self,
        done: asyncio.Future[None],
        batch: asyncio.Future[None] | None,
        pending: dict[bytes, Entry | None],
    ) -> None:
        self._writing = None
        exc = done.exception()
        if exc is None:
            self.batches_total += 1
            self.rows_total += len(pending)
            if self._failure is not None:
                logger.warning("writing to %s again", self.path)
            self._failure = None
            self.available = True
            if batch is not None:
                batch.set_result(None)
            self._flush()
            return
        if self._failure is None:
            logger.error("cannot write sessions: %s", exc)
        self._failure = exc
        self.available = False
        for sid, e in pending.items():  # retry what failed, unless it changed again since
            self._pending.setdefault(sid, e)
        if batch is not None:
            batch.set_exception(StorageError(str(exc)))
        loop = asyncio.get_running_loop()
        self._retry_timer = loop.call_later(_RETRY, self._flush)

    def _sync_tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._sync_timer = loop.call_later(1.0, self._sync_tick)
        if self._unsynced and self._executor is not None:
            self._unsynced = False
            loop.run_in_executor(self._executor, self._fsync_wal).add_done_callback(
                _consume_exception
            )

    def _fsync_wal(self) -> None:
        if self._wal_fd is not None:
            os.fsync(self._wal_fd)

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


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
