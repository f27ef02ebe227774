"""``sqlite:///abs/file.db``: the embedded durable default.

Sessions are served from the same in-memory index as ``memory://``.  Durability comes in two
layers, both written by one dedicated thread:

1. **The journal** (:mod:`.journal`): every change is appended to a redo journal next to the
   database, in batches: everything that changed while the previous batch was being written
   goes out as one frame, one ``write()`` and, with ``fsync always``, one ``fdatasync`` (group
   commit).  The daemon holds back the ``ok`` of a write until its frame is written
   (:meth:`SqliteStorage.barrier`), so an acknowledged write survives ``kill -9``.
2. **The database** (SQLite, WAL mode): about once a second the latest state of every session
   that changed is written to it, in one transaction, followed by a checkpoint; then the
   journal that covered those changes is deleted.  A session written a thousand times in that
   second costs the database one row.

On start the database is loaded and the journals left by a crash are replayed on top of it.

What survives a power loss is the fsync policy's business:

- ``always``: the journal is fsynced before every acknowledged batch; nothing acknowledged is
  lost.
- ``everysec``: the journal is fsynced once a second: about a second of acknowledged writes can
  be lost, never the database's consistency (checkpoints fsync it before a journal is dropped).
- ``no``: the journal is never fsynced; the OS writes it back when it likes.

Access times are written behind lazily (a touch only when it moved by more than ``ttl / 20``,
at most 60 s): after a crash a session may expire that much early, and reads do not cost a
write each.

One daemon per database: a lock file next to it keeps a second daemon out.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import marshal
import os
import sqlite3
import time
from itertools import chain
from typing import Any

from ..ids import is_valid_id
from . import url_path
from .base import StorageError, StorageOptions
from .index import Entry
from .journal import DELETE, SET, TOUCH, Journal, frame, journal_files, read_frames
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

#: Rows per statement, and per database job: a big sync is cut into jobs so that journal
#: writes (whose replies are waiting) get the thread in between.
_CHUNK = 500
#: Seconds between database syncs (and journal fsyncs under ``everysec``).
_SYNC_INTERVAL = 1.0
#: Retry a failed journal write this often while the disk refuses it.
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


#: A session's state in the database: (sid, blob, atime, ttl, deadline); blob as in memory.
Row = tuple[str, Any, float, int | None, float | None]


def _flat(blob: Any) -> tuple[bytes, ...]:
    """The pairs of an in-memory blob as the flat tuple the journal stores."""
    if isinstance(blob, dict):
        return tuple(chain.from_iterable(blob.items()))
    flat: tuple[bytes, ...] = marshal.loads(blob)
    return flat


class SqliteStorage(MemoryStorage):
    """Memory index in front, a journal and SQLite behind; see the module docstring."""

    scheme = "sqlite"
    persistent = True

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        self.path = url_path(url)
        # Two threads, so that a database sync (and the fsyncs of its checkpoint) never delays
        # the journal writes that replies wait for.
        self._worker: Worker | None = None  # the journal's
        self._db_worker: Worker | None = None  # the database's
        self._db: sqlite3.Connection | None = None
        self._journal: Journal | None = None  # used on the journal thread
        self._old_journals: list[str] = []  # journals the database does not cover yet
        self._lock_fd: int | None = None
        # Loop-thread state:
        self._pending: dict[bytes, Entry | None] = {}
        self._touches: dict[bytes, float] = {}
        self._dirty: set[bytes] = set()
        self._batch: Barrier | None = None
        self._writing: Barrier | None = None
        self._scheduled = False
        self._syncing = False
        self._failure: BaseException | None = None
        self._sync_timer: asyncio.TimerHandle | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._retry_timer: asyncio.TimerHandle | None = None
        self._touch_quantum = max(1.0, min(60.0, options.ttl / 20))
        self.batches_total = 0
        self.rows_total = 0
        self.syncs_total = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._db_worker = db_worker = Worker("sessionserver-sqlite")
        self._worker = worker = Worker("sessionserver-journal")
        db_worker.start()
        worker.start()
        try:
            state, replayed = await db_worker.run(self._open)
            now = time.time()
            index = self.index
            for sid_text, (blob, atime, ttl, deadline) in state.items():
                sid = sid_text.encode()
                meta = None if ttl is None and deadline is None else (ttl, deadline)
                e = Entry(blob, atime, meta)
                if is_valid_id(sid) and index.expires(e) > now:
                    index.insert(sid, e)
                else:
                    self._dirty.add(sid)  # deleted by the first sync
            # What the journals changed goes to the database now, and the journals go.
            self._dirty.update(sid.encode() for sid in replayed)
            await self._sync()
        except BaseException:
            await worker.stop()
            await db_worker.stop()
            self._worker = self._db_worker = None
            raise
        logger.info("loaded %d sessions from %s", len(index), self.path)
        loop = asyncio.get_running_loop()
        self._sync_timer = loop.call_later(_SYNC_INTERVAL, self._sync_tick)

    def _open(self) -> tuple[dict[str, tuple[Any, float, int | None, float | None]], set[str]]:
        """Lock, open the database, load it, replay the journals a crash left behind."""
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
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")  # ours run after each sync
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
        state: dict[str, tuple[Any, float, int | None, float | None]] = {
            sid: (encode(unpack(data)), atime, ttl, deadline)
            for sid, data, atime, ttl, deadline in rows
        }
        journals = journal_files(self.path)
        replayed: set[str] = set()
        for _, path in journals:
            for records in read_frames(path):
                for record in records:
                    kind, sid = record[0], record[1].decode()
                    replayed.add(sid)
                    if kind == SET:
                        state[sid] = (marshal.dumps(record[2]), *record[3:6])
                    elif kind == DELETE:
                        state.pop(sid, None)
                    elif kind == TOUCH and sid in state:
                        blob, _, ttl, deadline = state[sid]
                        state[sid] = (blob, record[2], ttl, deadline)
        if replayed:
            logger.info(
                "replayed changes to %d sessions from %d journals", len(replayed), len(journals)
            )
        self._old_journals = [path for _, path in journals]  # start() is waiting: no race
        self._journal = Journal(self.path, journals[-1][0] + 1 if journals else 1)
        self._sync_dir()
        return state, replayed

    def _sync_dir(self) -> None:
        if self.options.fsync != "no":
            fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    async def stop(self) -> None:
        for timer in (self._sync_timer, self._retry_timer):
            if timer is not None:
                timer.cancel()
        worker = self._worker
        if worker is None:
            return
        for _ in range(3):  # a failing disk gets a few last chances
            if self._writing is None:
                self._flush()
            if self._writing is None:
                break
            await self._writing.wait()
        if self._pending:
            logger.error(
                "%d session changes could not be written to the journal of %s",
                len(self._pending),
                self.path,
            )
        try:
            await self._sync()
        except StorageError as exc:
            logger.error(
                "final write to %s failed, the journal keeps the changes: %s", self.path, exc
            )
        await worker.run(self._close_journal)
        await worker.stop()
        assert self._db_worker is not None
        await self._db_worker.run(self._close_db)
        await self._db_worker.stop()
        self._worker = self._db_worker = None

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            if not self._old_journals and self._journal.size == 0:
                with contextlib.suppress(OSError):
                    os.unlink(self._journal.path)  # clean shutdown: the database has it all
            self._journal = None

    def _close_db(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- the journal: one frame per batch, before the replies -----------------------------------

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
        records: list[tuple[Any, ...]] = []
        for sid, e in self._pending.items():
            if e is None:
                records.append((DELETE, sid))
            else:
                ttl, deadline = e.meta if e.meta is not None else (None, None)
                records.append((SET, sid, _flat(e.blob), e.atime, ttl, deadline))
        records.extend(
            (TOUCH, sid, atime) for sid, atime in self._touches.items() if sid in self._map
        )
        pending, self._pending = self._pending, {}
        self._dirty.update(pending)
        self._dirty.update(self._touches)
        self._touches = {}
        batch, self._batch = self._batch, None
        self._writing = writing = batch if batch is not None else Barrier()
        # The frame is encoded here (marshal is C, and this thread holds the GIL anyway); the
        # worker only writes it, so it needs the GIL as little as possible.
        self._worker.post(
            self._append,
            (frame(records),),
            lambda _, error: self._appended(error, writing, pending),
        )

    def _append(self, data: bytes) -> None:
        assert self._journal is not None
        try:
            self._journal.write(data)
            if self.options.fsync == "always":
                self._journal.sync()
        except OSError as exc:
            raise StorageError(f"{self._journal.path}: {exc.strerror or exc}") from None

    def _appended(
        self, error: BaseException | None, batch: Barrier, pending: dict[bytes, Entry | None]
    ) -> None:
        self._writing = None
        if error is None:
            self.batches_total += 1
            self.rows_total += len(pending)
            if self._failure is not None:
                logger.warning("writing %s again", self.path)
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

    # -- the database: the latest state of what changed, about once a second -------------------

    def _sync_tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._sync_timer = loop.call_later(_SYNC_INTERVAL, self._sync_tick)
        if self._worker is None:
            return
        if self.options.fsync == "everysec":
            self._worker.post(self._sync_journal, (), _log_failure)
        if self._dirty and not self._syncing:
            self._sync_task = task = loop.create_task(self._sync())
            task.add_done_callback(_log_sync_failure)

    def _sync_journal(self) -> None:
        if self._journal is not None:
            self._journal.sync()

    async def _sync(self) -> None:
        """Write the current state of every changed session to the database, then drop the
        journals that covered those changes."""
        worker, db_worker = self._worker, self._db_worker
        if worker is None or db_worker is None or self._syncing:
            return
        self._syncing = True
        dirty = list(self._dirty)
        self._dirty = set()
        try:
            # Changes after this point go to a new journal; the one closed now covers
            # everything in ``dirty`` (the batch in flight is written before the rotation:
            # the journal thread runs jobs in order).
            rotated = await worker.run(self._rotate)
            if rotated is not None:
                self._old_journals.append(rotated)
            for start in range(0, len(dirty), _CHUNK):
                # The state at the time of each chunk: newer than the rotation, which is fine,
                # since replaying the new journal on top of it is idempotent.
                rows, deletes = self._capture(dirty[start : start + _CHUNK])
                await db_worker.run(self._apply, rows, deletes)
            dropped = list(self._old_journals)
            await db_worker.run(self._checkpoint_and_drop, dropped)
            del self._old_journals[: len(dropped)]
            self.syncs_total += 1
        except BaseException:
            self._dirty.update(dirty)  # try again at the next tick
            raise
        finally:
            self._syncing = False

    def _capture(self, sids: list[bytes]) -> tuple[list[Row], list[str]]:
        rows: list[Row] = []
        deletes: list[str] = []
        for sid in sids:
            e = self._map.get(sid)
            if e is None:
                deletes.append(sid.decode())
            else:
                ttl, deadline = e.meta if e.meta is not None else (None, None)
                rows.append((sid.decode(), e.blob, e.atime, ttl, deadline))
        return rows, deletes

    def _rotate(self) -> str | None:
        """Start a new journal; return the path of the old one (None if it was empty)."""
        journal = self._journal
        assert journal is not None
        if journal.size == 0:
            return None  # nothing in it: keep appending to it
        journal.sync()  # it must outlive the crash it may be needed for
        journal.close()
        self._journal = Journal(self.path, journal.seq + 1)
        self._sync_dir()
        return journal.path

    def _apply(self, rows: list[Row], deletes: list[str]) -> None:
        db = self._db
        assert db is not None
        encoded = [
            (sid, pack(pairs_of(blob)), atime, ttl, deadline)
            for sid, blob, atime, ttl, deadline in rows
        ]
        try:
            with db:
                for start in range(0, len(encoded), _CHUNK // 5):
                    chunk = encoded[start : start + _CHUNK // 5]
                    db.execute(_upsert(len(chunk)), [v for row in chunk for v in row])
                for start in range(0, len(deletes), _CHUNK):
                    chunk_ids = deletes[start : start + _CHUNK]
                    db.execute(_delete(len(chunk_ids)), chunk_ids)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None

    def _checkpoint_and_drop(self, journals: list[str]) -> None:
        db = self._db
        assert db is not None
        try:
            # With synchronous=NORMAL a checkpoint fsyncs the WAL, then the database: after
            # it, the old journals are no longer needed, even across a power loss.
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None
        for path in journals:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._sync_dir()

    async def backup(self, path: str) -> None:
        """Copy the database to ``path`` (a new or empty file) with ``VACUUM INTO``, once it
        holds everything acknowledged: a sync after the one in flight (which may have taken
        its sessions before the latest writes).  The copy runs on the database thread, so it
        sees the state between two transactions.  A failure to write the copy is the
        ``sqlite3.Error`` itself; a failing database a :class:`StorageError`."""
        while self._sync_task is not None and not self._sync_task.done():
            await asyncio.wait({self._sync_task})
        await self._sync()
        if self._db_worker is None or self._db is None:
            raise StorageError(f"{self.path} is closed")
        await self._db_worker.run(self._db.execute, "VACUUM INTO ?", (path,))

    def info(self) -> dict[str, int | float | str]:
        info = super().info()
        info.update(
            {
                "storage_batches_total": self.batches_total,
                "storage_rows_total": self.rows_total,
                "storage_syncs_total": self.syncs_total,
                "storage_pending": len(self._pending),
                "storage_dirty": len(self._dirty),
                "storage_available": int(self.available),
            }
        )
        return info


def _log_sync_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("writing sessions to the database failed (will retry): %s", error)


def _log_failure(_: object, error: BaseException | None) -> None:
    if error is not None:
        logger.error("journal fsync failed: %s", error)
