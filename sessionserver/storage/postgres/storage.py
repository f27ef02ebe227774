"""The PostgreSQL container: the storage contract on the statements of ``sql/`` (see the
package's docstring)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from ...ids import is_valid_id
from ..base import (
    APPLY_ABSENT,
    LockLost,
    SharedStorage,
    StorageError,
    StorageOptions,
    plain_user,
    user_id,
)
from ..pairs import pack_fixed as pack
from ..pairs import unpack
from ..urls import parse_postgres_url, redact
from .lanes import Lanes, Statement, failures
from .statements import BATCH, TABLES, render

__all__ = ["PostgresStorage"]

#: Statements per purge call.
_PURGE_ROUNDS = 10
#: Seconds between sweeps of lapsed locks (left behind by daemons that died holding them).
_LOCK_SWEEP = 60.0
#: The server's limit on a statement, as a share of the timeout: a slow statement is cancelled
#: by the server (and its connection stays usable) before the caller's deadline passes.
_STATEMENT_SHARE = 0.9
#: The largest scan cursor: ``0x01`` followed by the longest id.
_CURSOR_BYTES = 1 + 128
#: Bytes (stored pairs, changes and removals) above which a one-command write is not merged
#: in SQL: its walk of the pairs grows faster than their size (232 ms for 1,000 small pairs,
#: 2 s for 3,000), so it takes the lock, loads and saves, three short statements.
APPLY_WALK_MAX = 4096
_TOO_BIG_TO_WALK = -5


def _advisory_key(schema: str) -> int:
    """The advisory lock that serialises creating ``schema``'s tables (a signed 64-bit int)."""
    digest = hashlib.sha256(b"sessionserver schema " + schema.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _turn_key(sid: bytes) -> int:
    """The advisory lock (second key, a signed 32-bit int) a rename of ``sid`` takes."""
    return int.from_bytes(hashlib.blake2b(sid, digest_size=4).digest(), "big", signed=True)


def _sid(sid: bytes) -> str:
    return sid.decode("ascii")  # valid ids are ASCII


def _cursor(sid: str) -> int:
    """A scan cursor after ``sid``: its bytes behind ``0x01`` as one integer (never 0)."""
    return int.from_bytes(b"\x01" + sid.encode("ascii"), "big")


def _after(cursor: int) -> str | None:
    """The id a scan cursor continues after ('' from the start); None if it is not one."""
    if cursor == 0:
        return ""
    size = (cursor.bit_length() + 7) // 8
    if size > _CURSOR_BYTES:
        return None
    raw = cursor.to_bytes(size, "big")
    if raw[:1] != b"\x01" or not is_valid_id(raw[1:]):
        return None
    return raw[1:].decode("ascii")


class PostgresStorage(SharedStorage):
    """Sessions in PostgreSQL; see the package's docstring."""

    scheme = "postgresql"

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        self._target, self.schema, self.timeout, self.max_connections = parse_postgres_url(url)
        password = urlsplit(url).password or ""
        #: What must never appear in a message: the password as written and as decoded.
        self._secrets = sorted({password, unquote(password)} - {""}, key=len, reverse=True)
        self._lanes: Lanes | None = None
        self._ttl = options.ttl
        self._maxlife = options.max_lifetime
        self._user_keys = options.user_keys
        self._lock_sweep_at = 0.0
        #: The first key of this schema's advisory locks (renames take turns on them).
        self._space = _advisory_key(self.schema) >> 32
        # Rendered once: the statements are the same for every call, only parameters vary.
        rendered = render(self.schema, options.ttl, options.max_lifetime, options.user_keys)
        self._ddl = rendered.ddl
        self._sql = rendered.queries

    # -- lifecycle --------------------------------------------------------------------------

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return redact(urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))) + (
            f" (schema {self.schema})"
        )

    def _connect_args(self) -> dict[str, Any]:
        """What every connection gets on top of the URL: autocommit, and the timeouts (the
        URL's own libpq settings win, except ``options``, which is extended)."""
        given = conninfo_to_dict(self._target)
        args: dict[str, Any] = {"autocommit": True}
        ms = max(1, round(self.timeout * 1000))
        statement_ms = max(1, round(self.timeout * _STATEMENT_SHARE * 1000))
        limit = f"-c statement_timeout={statement_ms}"
        args["options"] = f"{given.get('options') or ''} {limit}".strip()
        defaults = {
            "connect_timeout": max(2, math.ceil(self.timeout)),  # libpq's minimum is 2
            "tcp_user_timeout": ms,
            "application_name": "sessionserver",
        }
        for key, value in defaults.items():
            if key not in given:
                args[key] = value
        return args

    def _message(self, exc: BaseException) -> str:
        """A failure in one line, never with the password."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return f"postgresql: {text}"

    async def start(self) -> None:
        with failures(self._message):
            args = self._connect_args()

        # One connection first: it creates the tables, and a server that cannot be reached
        # fails here with libpq's own reason.
        async def prepare() -> None:
            conn = await psycopg.AsyncConnection.connect(self._target, **args)
            async with conn:
                await self._create_tables(conn)

        task = asyncio.ensure_future(prepare())
        done, _ = await asyncio.wait((task,), timeout=self.timeout)
        if not done:
            task.cancel()
            raise StorageError(f"postgresql: no answer within {self.timeout:g} s")
        with failures(self._message):
            task.result()
        lanes = Lanes(
            self._target,
            args,
            size=self.max_connections,
            timeout=self.timeout,
            message=self._message,
        )
        lanes.open()
        self._lanes = lanes

    async def _create_tables(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        """The schema and its tables, unless they exist (then no privilege beyond reading and
        writing them is needed); daemons starting at once take turns."""
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s::bigint)", [_advisory_key(self.schema)]
            )
            cur = await conn.execute(
                """SELECT
                    EXISTS (SELECT FROM pg_namespace WHERE nspname = %(schema)s),
                    (SELECT count(*) FROM pg_tables
                     WHERE schemaname = %(schema)s AND tablename = ANY(%(tables)s))""",
                {"schema": self.schema, "tables": list(TABLES)},
            )
            row = await cur.fetchone()
            assert row is not None
            schema_exists, tables = row
            if tables == len(TABLES):
                return
            # CREATE SCHEMA needs the database's CREATE privilege even when the schema exists.
            for statement in self._ddl[1:] if schema_exists else self._ddl:
                await conn.execute(statement)

    async def stop(self) -> None:
        if self._lanes is not None:
            lanes, self._lanes = self._lanes, None
            await lanes.close()

    def info(self) -> dict[str, int | float | str]:
        return {} if self._lanes is None else dict(self._lanes.info())

    # -- helpers ----------------------------------------------------------------------------

    def _run(self, *statements: Statement) -> asyncio.Future[list[TupleRow]]:
        """The rows of the last of ``statements``, run as one transaction."""
        if self._lanes is None:
            raise StorageError("postgresql: the storage is not started")
        return self._lanes.submit(statements)

    async def _rows(self, name: str, params: dict[str, Any]) -> list[TupleRow]:
        return await self._run((self._sql[name], params))

    async def _row(self, name: str, params: dict[str, Any]) -> TupleRow | None:
        rows = await self._run((self._sql[name], params))
        return rows[0] if rows else None

    def _user(self, data: dict[bytes, bytes]) -> bytes | None:
        return user_id(data, self._user_keys) if self._user_keys else None

    def _unpack(self, sid: bytes, blob: bytes) -> dict[bytes, bytes]:
        try:
            return unpack(bytes(blob))
        except ValueError:
            raise StorageError(f"postgresql: corrupt session {sid.decode()}") from None

    # -- the contract -----------------------------------------------------------------------

    async def load(self, sid: bytes, now: float) -> dict[bytes, bytes] | None:
        if not is_valid_id(sid):
            return None
        row = await self._row("load", {"sid": _sid(sid), "now": now})
        return None if row is None else self._unpack(sid, row[0])

    async def peek(self, sid: bytes, now: float) -> tuple[dict[bytes, bytes], float] | None:
        if not is_valid_id(sid):
            return None
        row = await self._row("peek", {"sid": _sid(sid), "now": now})
        return None if row is None else (self._unpack(sid, row[0]), float(row[1]))

    async def create(
        self, sid: bytes, data: dict[bytes, bytes], now: float, ttl: int | None = None
    ) -> bool:
        if not is_valid_id(sid):
            return False
        deadline = now + (self._ttl if ttl is None else ttl)
        if self._maxlife is not None:
            deadline = min(deadline, now + self._maxlife)
        params = {
            "sid": _sid(sid),
            "now": now,
            "ttl": ttl,
            "deadline": deadline,
            "data": pack(data),
            "user": self._user(data),
        }
        return await self._row("create", params) is not None

    async def _save(
        self,
        sid: bytes,
        token: bytes | None,
        data: dict[bytes, bytes],
        now: float,
        ttl: int | None,
        release: bool,
    ) -> bool:
        if not is_valid_id(sid):
            return False
        params = {
            "sid": _sid(sid),
            "now": now,
            "token": token or None,
            "ttl": ttl,
            "release": release,
            "data": pack(data),
            "user": self._user(data),
        }
        row = await self._row("save", params)
        assert row is not None  # the statement always returns one row
        saved, held, live = row
        if saved:
            return True
        if live and not held:
            raise LockLost("the session's lock changed hands")
        return False

    async def save(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        return await self._save(sid, None, data, now, None, False)

    async def save_and_release(
        self, sid: bytes, token: bytes, data: dict[bytes, bytes], now: float, ttl: int | None
    ) -> bool:
        """One statement: the fenced save, the new idle lifetime and the release."""
        return await self._save(sid, token, data, now, ttl, True)

    async def delete(self, sid: bytes, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        row = await self._row("delete", {"sid": _sid(sid), "now": now})
        return row is not None and bool(row[0])

    async def rename(self, old: bytes, new: bytes, now: float) -> bool:
        if not (is_valid_id(old) and is_valid_id(new)) or old == new:
            return False
        keys = sorted({_turn_key(old), _turn_key(new)})
        # One transaction, sent at once: the turn, then the rename.
        rows = await self._run(
            (self._sql["rename_turn"], {"space": self._space, "keys": keys}),
            (self._sql["rename"], {"old": _sid(old), "new": _sid(new), "now": now}),
        )
        return bool(rows)

    async def get_ttl(self, sid: bytes, now: float) -> float | None:
        if not is_valid_id(sid):
            return None
        row = await self._row("get_ttl", {"sid": _sid(sid), "now": now})
        return None if row is None else float(row[0])

    async def set_ttl(self, sid: bytes, ttl: int, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        row = await self._row("set_ttl", {"sid": _sid(sid), "ttl": ttl, "now": now})
        return row is not None

    async def _batches(self, name: str, params: dict[str, Any], rounds: int) -> int:
        """Run a sweep of up to ``rounds`` batches, until one deletes less than a batch; the
        rows its first column counts."""
        removed = 0
        for _ in range(rounds):
            row = await self._row(name, params)
            gone = int(row[0]) if row is not None else 0
            removed += gone
            if gone < BATCH:
                break
        return removed

    async def purge_expired(self, now: float) -> int:
        removed = await self._batches("purge", {"now": now}, _PURGE_ROUNDS)
        # Lapsed locks (their holder died, or a one-command write left them): now and then.
        if time.monotonic() >= self._lock_sweep_at:
            self._lock_sweep_at = time.monotonic() + _LOCK_SWEEP
            await self._batches("lock_sweep", {}, _PURGE_ROUNDS)
        return removed

    async def gc(self, idle: float, now: float) -> int:
        removed = 0
        while True:
            row = await self._row("gc", {"before": now - idle, "now": now})
            gone, live = (int(row[0]), int(row[1])) if row is not None else (0, 0)
            removed += live
            if gone < BATCH:
                return removed

    async def count(self, now: float) -> int:
        row = await self._row("count", {"now": now})
        return int(row[0]) if row is not None else 0

    async def scan(self, cursor: int, count: int, now: float) -> tuple[int, list[bytes]]:
        # Keyset paging in id order: the cursor encodes the last id returned.
        after = _after(cursor)
        if after is None or count < 1:
            return 0, []
        rows = await self._rows("scan", {"after": after, "now": now, "count": count})
        ids = [row[0] for row in rows]
        following = _cursor(ids[-1]) if len(ids) == count else 0
        return following, [sid.encode("ascii") for sid in ids]

    async def apply(
        self,
        sid: bytes,
        changes: dict[bytes, bytes],
        removed: list[bytes],
        *,
        max_keys: int,
        max_session: int,
        token: bytes | None,
        now: float,
        ttl: int | None = None,
    ) -> int | None:
        if not is_valid_id(sid):
            return APPLY_ABSENT
        params = {
            "sid": _sid(sid),
            "now": now,
            "token": token or None,
            "ttl": ttl,
            # Packed, as the pairs are: one bytea each is cheaper to send than arrays.
            "changes": pack(changes),
            "removed": pack(dict.fromkeys(removed, b"")),
            "max_keys": max_keys,
            "max_session": max_session,
            "walk_max": APPLY_WALK_MAX,
        }
        row = await self._row("apply", params)
        assert row is not None  # the statement always returns one row
        code = int(row[0])
        return None if code == _TOO_BIG_TO_WALK else code

    # -- locks ------------------------------------------------------------------------------

    async def lock_acquire(self, sid: bytes, token: bytes, lease: float) -> bool:
        if not is_valid_id(sid):
            return False
        params = {"sid": _sid(sid), "token": token, "lease": float(lease)}
        return await self._row("lock_acquire", params) is not None

    async def lock_and_load(
        self, sid: bytes, token: bytes, lease: float, now: float
    ) -> tuple[bool, dict[bytes, bytes] | None] | None:
        if not is_valid_id(sid):
            return None
        params = {"sid": _sid(sid), "token": token, "lease": float(lease), "now": now}
        row = await self._row("lock_load", params)
        assert row is not None  # the statement always returns one row
        taken, blob = row
        return bool(taken), None if blob is None else self._unpack(sid, blob)

    async def lock_renew(self, held: list[tuple[bytes, bytes]], lease: float) -> list[bool]:
        valid = [(sid, token) for sid, token in held if is_valid_id(sid)]
        if not valid:
            return [False] * len(held)
        params = {
            "sids": [_sid(sid) for sid, _ in valid],
            "tokens": [token for _, token in valid],
            "lease": float(lease),
        }
        rows = await self._rows("lock_renew", params)
        still = {(sid.encode("ascii"), bytes(token)) for sid, token in rows}
        return [(sid, token) in still for sid, token in held]

    async def lock_release(self, sid: bytes, token: bytes) -> None:
        if is_valid_id(sid):
            await self._rows("lock_release", {"sid": _sid(sid), "token": token})

    # -- users ------------------------------------------------------------------------------

    async def user_sessions(self, user: bytes, now: float) -> list[bytes]:
        rows = await self._rows("user_sessions", {"user": plain_user(user), "now": now})
        return [row[0].encode("ascii") for row in rows]
