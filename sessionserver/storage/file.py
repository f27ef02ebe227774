"""``file:///abs/dir``: one file per session, as PHP's files handler does it.

Each session is ``<dir>/sess_<id>``: a small header (format, idle lifetime, absolute deadline)
and the pairs (:mod:`.pairs`).  The file's modification time is the session's last access, so
refreshing the idle expiry is one ``utime`` and never rewrites the data.  Every write goes to a
temporary file in the same folder that then replaces the session file with ``os.replace``:
a reader or a crash sees the old file or the new one, never a mix or stale trailing bytes.

The id is checked against :func:`ids.is_valid_id` before any path is built.  All file work runs
on one dedicated thread, which also serialises it, so "save only if present" cannot race a
delete.  An in-memory index of the files' metadata (rebuilt by one scan at start) makes expiry
cost time proportional to what expires.  One daemon per folder: a lock file keeps others out.

Durability follows the fsync policy: ``always`` fsyncs the file and the folder before the write
is acknowledged; ``everysec`` fsyncs what changed once a second; ``no`` leaves it to the OS.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import functools
import logging
import math
import os
import struct
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..ids import is_valid_id
from . import url_path
from .base import Storage, StorageError, StorageOptions
from .index import Entry, SessionIndex
from .pairs import pack, unpack

__all__ = ["FileStorage"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MAGIC = b"SSF1"
_HEADER = struct.Struct(">4sqd")  # magic, ttl (-1: default), deadline (NaN: none)
_PREFIX = "sess_"


class FileStorage(Storage):
    """Session files in one folder; see the module docstring."""

    scheme = "file"

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        self.path = url_path(url).rstrip("/")
        self.index = SessionIndex(options.ttl, options.max_lifetime)
        self.index.on_drop = self._unlink
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock_fd: int | None = None
        self._dirty: set[str] = set()
        self._sync_timer: asyncio.TimerHandle | None = None

    # -- plumbing -------------------------------------------------------------------------------

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StorageError("file storage is not started")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(func, *args))
        except OSError as exc:
            raise StorageError(f"{self.path}: {exc.strerror or exc}") from None

    def _file(self, sid: bytes) -> str:
        # Only ever called with ids that passed is_valid_id: no separator, no dot.
        return f"{self.path}/{_PREFIX}{sid.decode()}"

    def _write_file(self, sid: bytes, data: dict[bytes, bytes], e: Entry, now: float) -> None:
        ttl, deadline = e.meta if e.meta is not None else (None, None)
        header = _HEADER.pack(
            _MAGIC, -1 if ttl is None else ttl, math.nan if deadline is None else deadline
        )
        final = self._file(sid)
        temp = f"{self.path}/.tmp_{sid.decode()}_{os.getpid()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, header + pack(data))
            if self.options.fsync == "always":
                os.fsync(fd)
        finally:
            os.close(fd)
        os.utime(temp, (now, now))
        os.replace(temp, final)
        self._synced(final)

    def _synced(self, path: str) -> None:
        if self.options.fsync == "always":
            dir_fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        elif self.options.fsync == "everysec":
            self._dirty.add(path)

    def _unlink(self, sid: bytes) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._file(sid))
        self._synced(self.path)
        self._emit("dropped", sid)

    def _emit(self, event: str, *args: Any) -> None:
        """Report to ``events`` on the loop thread (this runs on the file thread)."""
        if self.events is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(getattr(self.events, event), *args)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="sessionserver-file"
        )
        try:
            count = await self._run(self._scan, time.time())
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        logger.info("found %d sessions in %s", count, self.path)
        if self.options.fsync == "everysec":
            self._sync_timer = asyncio.get_running_loop().call_later(1.0, self._sync_tick)

    def _scan(self, now: float) -> int:
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        lock_fd = os.open(f"{self.path}/.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise StorageError(f"another sessionserver is using {self.path}") from None
        self._lock_fd = lock_fd
        index = self.index
        with os.scandir(self.path) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".tmp_"):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)  # a write cut short by a crash
                    continue
                sid = name[len(_PREFIX) :].encode()
                if not name.startswith(_PREFIX) or not is_valid_id(sid):
                    continue
                try:
                    with open(entry.path, "rb") as fh:
                        magic, ttl, deadline = _HEADER.unpack(fh.read(_HEADER.size))
                    atime = entry.stat().st_mtime
                except (OSError, struct.error):
                    logger.warning("skipping unreadable session file %s", entry.path)
                    continue
                if magic != _MAGIC:
                    continue
                meta = (None if ttl < 0 else ttl, None if math.isnan(deadline) else deadline)
                e = Entry(None, atime, None if meta == (None, None) else meta)
                if index.expires(e) <= now:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                    continue
                index.insert(sid, e)
        return len(index)

    async def stop(self) -> None:
        if self._sync_timer is not None:
            self._sync_timer.cancel()
        if self._executor is None:
            return
        with contextlib.suppress(StorageError):
            await self._run(self._sync_dirty)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._executor.shutdown(wait=True)
        self._executor = None

    def _sync_tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._sync_timer = loop.call_later(1.0, self._sync_tick)
        if self._dirty and self._executor is not None:
            loop.run_in_executor(self._executor, self._sync_dirty)

    def _sync_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for path in dirty:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        if dirty:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- the contract (each runs on the file thread) ---------------------------------------------

    def _load(self, sid: bytes, now: float) -> dict[bytes, bytes] | None:
        e = self.index.live(sid, now)
        if e is None:
            return None
        path = self._file(sid)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
            data = unpack(raw[_HEADER.size :])
        except FileNotFoundError:  # removed behind our back
            self.index.drop(sid, e)
            return None
        except ValueError:
            raise StorageError(f"corrupt session file {path}") from None
        os.utime(path, (now, now))
        self.index.touch(sid, e, now)
        return data

    async def load(self, sid: bytes, now: float) -> dict[bytes, bytes] | None:
        if not is_valid_id(sid):
            return None
        return await self._run(self._load, sid, now)

    def _create(self, sid: bytes, data: dict[bytes, bytes], now: float, ttl: int | None) -> bool:
        if self.index.live(sid, now) is not None:
            return False
        e = self.index.new_entry(None, now)
        self.index.insert(sid, e)
        if ttl is not None:
            self.index.set_ttl(sid, e, ttl, now)
        try:
            self._write_file(sid, data, e, now)
        except BaseException:
            self.index.drop(sid, e)
            raise
        self._emit("saved", sid, data)
        return True

    async def create(
        self, sid: bytes, data: dict[bytes, bytes], now: float, ttl: int | None = None
    ) -> bool:
        if not is_valid_id(sid):
            return False
        return await self._run(self._create, sid, dict(data), now, ttl)

    def _save(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        e = self.index.live(sid, now)
        if e is None:
            return False
        self._write_file(sid, data, e, now)
        self.index.touch(sid, e, now)
        self._emit("saved", sid, data)
        return True

    async def save(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        if not is_valid_id(sid):
            return False
        return await self._run(self._save, sid, dict(data), now)

    def _delete(self, sid: bytes, now: float) -> bool:
        e = self.index.live(sid, now)
        if e is None:
            return False
        self.index.drop(sid, e)
        return True

    async def delete(self, sid: bytes, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        return await self._run(self._delete, sid, now)

    def _rename(self, old: bytes, new: bytes, now: float) -> bool:
        index = self.index
        if index.live(new, now) is not None:
            return False
        e = index.live(old, now)
        if e is None:
            return False
        os.rename(self._file(old), self._file(new))
        os.utime(self._file(new), (now, now))
        self._synced(self.path)
        del index.map[old]
        index.wheel.remove(old, index.expires(e))
        e.atime = now
        index.insert(new, e)
        self._emit("renamed", old, new)
        return True

    async def rename(self, old: bytes, new: bytes, now: float) -> bool:
        if not (is_valid_id(old) and is_valid_id(new)):
            return False
        return await self._run(self._rename, old, new, now)

    def _get_ttl(self, sid: bytes, now: float) -> float | None:
        e = self.index.live(sid, now)
        return None if e is None else self.index.expires(e) - now

    async def get_ttl(self, sid: bytes, now: float) -> float | None:
        if not is_valid_id(sid):
            return None
        return await self._run(self._get_ttl, sid, now)

    def _set_ttl(self, sid: bytes, ttl: int, now: float) -> bool:
        e = self.index.live(sid, now)
        if e is None:
            return False
        data = self._load(sid, now)
        if data is None:
            return False
        self.index.set_ttl(sid, e, ttl, now)
        self._write_file(sid, data, e, now)
        return True

    async def set_ttl(self, sid: bytes, ttl: int, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        return await self._run(self._set_ttl, sid, ttl, now)

    def _replay(self) -> None:
        for sid in list(self.index.map):
            try:
                with open(self._file(sid), "rb") as fh:
                    data = unpack(fh.read()[_HEADER.size :])
            except (OSError, ValueError):
                continue
            self._emit("saved", sid, data)

    async def replay(self) -> None:
        if self.events is not None:
            await self._run(self._replay)

    async def purge_expired(self, now: float) -> int:
        return len(await self._run(self.index.purge, now))

    async def gc(self, idle: float, now: float) -> int:
        return len(await self._run(self.index.idle, idle, now))

    async def count(self, now: float) -> int:
        await self._run(self.index.purge, now)
        return len(self.index)

    def _peek(self, sid: bytes, now: float) -> tuple[dict[bytes, bytes], float] | None:
        e = self.index.live(sid, now)
        if e is None:
            return None
        try:
            with open(self._file(sid), "rb") as fh:
                data = unpack(fh.read()[_HEADER.size :])
        except FileNotFoundError:
            return None
        except ValueError:
            raise StorageError(f"corrupt session file {self._file(sid)}") from None
        return data, self.index.expires(e) - now

    async def peek(self, sid: bytes, now: float) -> tuple[dict[bytes, bytes], float] | None:
        if not is_valid_id(sid):
            return None
        return await self._run(self._peek, sid, now)

    async def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        return await self._run(self.index.scan, cursor, count, now)

    def info(self) -> dict[str, int | float | str]:
        return {"expired_total": self.index.expired_total}
