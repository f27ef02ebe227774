"""``sqlite:///abs/file.db``: the embedded durable default.

Sessions are served from the same in-memory index as ``memory://``.  Durability comes in two
layers:

1. **The journal** (:mod:`.journal`): every change is appended to a redo journal next to the
   database, in batches: everything that changed in one iteration of the event loop (or while
   the previous batch was being fsynced) goes out as one frame, one ``write()`` on the loop
   thread (into the page cache: no thread hop, no GIL handover) and, with ``fsync always``,
   one ``fdatasync`` on the journal thread (group commit).  The daemon holds back the ``ok``
   of a write until its frame is written (:meth:`SqliteStorage.barrier`), so an acknowledged
   write survives ``kill -9``.
2. **The database** (SQLite, WAL mode, on a thread of its own): about once a second the latest
   state of every session that changed is written to it, in one transaction, followed by a
   checkpoint; then the journal that covered those changes is deleted.  A session written a
   thousand times in that second costs the database one row.

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
import os
import sqlite3
import time
from typing import Any

from ..ids import is_valid_id
from . import sqlitedb, url_path
from .base import StorageError, StorageOptions
from .index import Entry, record
from .journal import DELETE, SET, TOUCH, Journal, frame, journal_files, read_frames
from .memory import MemoryStorage
from .pairs import pack, unpack
from .worker import Barrier, Worker

__all__ = ["SqliteStorage"]

logger = logging.getLogger(__name__)

#: Seconds between database syncs (and journal fsyncs under ``everysec``).
_SYNC_INTERVAL = 1.0
#: Retry a failed journal write this often while the disk refuses it.
_RETRY = 1.0


#: A session's state in the database: (sid, pairs, atime, ttl, deadline); the pairs a dict, or
#: packed already.
Row = tuple[str, dict[bytes, bytes] | bytes, float, int | None, float | None]
#: A session's state as loaded: (packed pairs, atime, ttl, deadline).
Loaded = tuple[bytes, float, int | None, float | None]


def _packed(pairs: Any) -> bytes:
    """Pairs as :func:`.pairs.pack` packs them: from the database (which may hold the older
    encoding, and is checked), or from a journal record (before: a flat tuple)."""
    if isinstance(pairs, tuple):
        return pack(dict(zip(pairs[::2], pairs[1::2], strict=True)))
    unpacked = unpack(pairs)
    return pairs if pairs[:1] == b"\x02" else pack(unpacked)


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
        self._journal: Journal | None = None  # written on the loop thread, synced on the other
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
            for sid_text, (packed, atime, ttl, deadline) in state.items():
                sid = sid_text.encode()
                meta = None if ttl is None and deadline is None else (ttl, deadline)
                rec = record(atime, meta, packed)
                if is_valid_id(sid) and index.expires(rec) > now:
                    index.insert(sid, rec)
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

    def _open(self) -> tuple[dict[str, Loaded], set[str]]:
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
        db, rows = sqlitedb.connect(self.path)
        self._db = db
        try:
            state: dict[str, Loaded] = {
                sid: (_packed(data), atime, ttl, deadline)
                for sid, data, atime, ttl, deadline in rows
            }
        except ValueError as exc:
            raise StorageError(f"{self.path}: a session is damaged ({exc})") from None
        journals = journal_files(self.path)
        replayed: set[str] = set()
        for _, path in journals:
            for records in read_frames(path):
                for change in records:
                    kind, sid = change[0], change[1].decode()
                    replayed.add(sid)
                    if kind == SET:
                        state[sid] = (_packed(change[2]), *change[3:6])
                    elif kind == DELETE:
                        state.pop(sid, None)
                    elif kind == TOUCH and sid in state:
                        blob, _, ttl, deadline = state[sid]
                        state[sid] = (blob, change[2], ttl, deadline)
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
            return  # the batch being fsynced flushes again when it is done
        journal, worker = self._journal, self._worker
        if journal is None or worker is None:
            return  # stopped
        records: list[tuple[Any, ...]] = []
        for sid, e in self._pending.items():
            if e is None:
                records.append((DELETE, sid))
            else:
                ttl, deadline = e.meta if e.meta is not None else (None, None)
                records.append((SET, sid, pack(e.blob), e.atime, ttl, deadline))
        records.extend(
            (TOUCH, sid, atime) for sid, atime in self._touches.items() if sid in self._map
        )
        pending, self._pending = self._pending, {}
        self._dirty.update(pending)
        self._dirty.update(self._touches)
        self._touches = {}
        batch, self._batch = self._batch, None
        batch = batch if batch is not None else Barrier()
        try:
            journal.write(frame(records))
        except OSError as exc:
            self._appended(_journal_error(journal, exc), batch, pending)
            return
        if self.options.fsync != "always":
            self._appended(None, batch, pending)
            return
        self._writing = batch
        worker.post(
            _sync_journal, (journal,), lambda _, error: self._appended(error, batch, pending)
        )

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
        if self._retry_timer is not None:
            self._retry_timer.cancel()  # one retry pending at a time
        self._retry_timer = asyncio.get_running_loop().call_later(_RETRY, self._flush)

    # -- the database: the latest state of what changed, about once a second -------------------

    def _sync_tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._sync_timer = loop.call_later(_SYNC_INTERVAL, self._sync_tick)
        if self._worker is None:
            return
        if self.options.fsync == "everysec" and self._journal is not None:
            self._worker.post(_sync_journal, (self._journal,), _log_failure)
        if self._dirty and not self._syncing:
            self._sync_task = task = loop.create_task(self._sync())
            task.add_done_callback(_log_sync_failure)

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
            # Changes after this point go to a new journal; the old one covers everything in
            # ``dirty``, and is fsynced after the fsyncs of its frames (the journal thread
            # runs jobs in order).
            rotated = self._rotate()
            if rotated is not None:
                await worker.run(self._retire, rotated)
                self._old_journals.append(rotated.path)
            for start in range(0, len(dirty), sqlitedb.CHUNK):
                # The state at the time of each chunk: newer than the rotation, which is fine,
                # since replaying the new journal on top of it is idempotent.
                rows, deletes = self._capture(dirty[start : start + sqlitedb.CHUNK])
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
                pairs, atime, meta = self.index.state(e)
                ttl, deadline = meta if meta is not None else (None, None)
                rows.append((sid.decode(), pairs, atime, ttl, deadline))
        return rows, deletes

    def _rotate(self) -> Journal | None:
        """Start a new journal; return the old one (None if it was empty)."""
        journal = self._journal
        assert journal is not None
        if journal.size == 0:
            return None  # nothing in it: keep appending to it
        try:
            self._journal = Journal(self.path, journal.seq + 1)
        except OSError as exc:
            raise _journal_error(journal, exc) from None
        return journal

    def _retire(self, journal: Journal) -> None:
        """On the journal thread: make the old journal outlive the crash it may be needed for,
        and the new one's name durable."""
        _sync_journal(journal)
        journal.close()
        self._sync_dir()

    def _apply(self, rows: list[Row], deletes: list[str]) -> None:
        assert self._db is not None
        encoded = [
            (sid, pack(pairs) if isinstance(pairs, dict) else pairs, atime, ttl, deadline)
            for sid, pairs, atime, ttl, deadline in rows
        ]
        sqlitedb.apply(self._db, self.path, encoded, deletes)

    def _checkpoint_and_drop(self, journals: list[str]) -> None:
        assert self._db is not None
        sqlitedb.checkpoint(self._db, self.path)
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


def _sync_journal(journal: Journal) -> None:
    try:
        journal.sync()
    except OSError as exc:
        raise _journal_error(journal, exc) from None


def _journal_error(journal: Journal, exc: OSError) -> StorageError:
    return StorageError(f"{journal.path}: {exc.strerror or exc}")


def _log_sync_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("writing sessions to the database failed (will retry): %s", error)


def _log_failure(_: object, error: BaseException | None) -> None:
    if error is not None:
        logger.error("journal fsync failed: %s", error)
