"""``postgresql://`` (or ``postgres://``): sessions in PostgreSQL, shared by daemons.

Several daemons may point at one database and behave as one server: the sessions, their locks
and the user index all live in the database, never in a daemon's memory.

Three tables, in their own schema (``?schema=``, default ``sessionserver``), which ``start``
creates if they are missing (under an advisory lock, so daemons starting at once do not race):

- ``sessions(sid, data, user_id)``: the session's pairs as one ``bytea`` (:mod:`.pairs`) and
  the user they name (:func:`~.base.user_id`), indexed, so the user index is exact: it is
  written with the pairs, moves with a rename and disappears with the row.
- ``times(sid, created, accessed, ttl, expires_at)``: what expiry needs, in a narrow row of
  its own.  PostgreSQL rewrites a whole row on every ``UPDATE``, so an access (which slides the
  idle expiry) updates this row only and never rewrites the pairs.  ``expires_at`` is the
  deadline, ``min(accessed + (ttl or the default), created + max_lifetime)``, computed from
  the daemon's clock (the ``now`` every method is given) and indexed: reads compare it with
  ``now`` (expired equals absent at once) and :meth:`PostgresStorage.purge_expired` deletes
  what lapsed through the index, in bounded batches, skipping rows another daemon's sweep has
  locked, so it costs one index probe when nothing expired.
- ``locks(sid, token, expires_at)``: the sessions' write locks.  The lease is judged by the
  database's clock, so daemons with skewed clocks agree.  A lock is taken by an upsert that
  only overwrites a lapsed lease, extended and released by statements that compare the token.
  A save under a lock carries the token and is refused (:class:`~.base.LockLost`) unless the
  lock still has it and its lease is running.

Every change is one statement (its steps are data-modifying ``WITH`` queries), so each is
atomic; a rename is one transaction of two statements sent at once.  Nothing deadlocks: rows
are locked in one order (a lock, then a times row, then a sessions row), the sweeps (purge,
gc) skip rows locked by others instead of waiting, and renames, the only changes that hold two
sessions at once, take turns on advisory locks when their ids overlap.  Create is
create-if-absent (an expired row is replaced), save is update-if-present and never brings back
a deleted or expired session.

Connections come from a pool (``?max_connections=``, default 20); one idle for more than a
second is checked before use, so those broken by a server restart are replaced. No call takes
longer than ``?timeout=`` seconds (default 5), waiting for a connection, checking it and the
statement included: the caller stops waiting then, whatever the network does (a partition
acknowledges nothing and answers nothing), while the abandoned work is cancelled and its
connection discarded in the background. The same timeout also bounds the connect and
unacknowledged writes (libpq's ``connect_timeout`` and ``tcp_user_timeout``), and PostgreSQL's
``statement_timeout`` cancels a slow statement on the server shortly before the caller gives up.
A pool that cannot connect gives up quickly and tries again when the next call comes, so the
container recovers by itself as soon as the server is back. Every failure surfaces as
:class:`~.base.StorageError`, which the daemon answers with ``err``. Other query parameters go
to libpq (``sslmode``, ...).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import weakref
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ..ids import is_valid_id
from .base import LockLost, Storage, StorageError, StorageOptions, plain_user, user_id
from .pairs import pack, unpack
from .urls import parse_postgres_url, redact

__all__ = ["PostgresStorage"]

Pool = AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]

#: A pooled connection idle longer than this is checked with a round trip before use (one that
#: was busy a moment ago is known to work: checking every checkout would double each call).
_CHECK_AFTER_IDLE = 1.0
_returned: weakref.WeakKeyDictionary[psycopg.AsyncConnection[TupleRow], float] = (
    weakref.WeakKeyDictionary()
)


async def _mark_returned(conn: psycopg.AsyncConnection[TupleRow]) -> None:
    _returned[conn] = time.monotonic()


async def _check_if_idle(conn: psycopg.AsyncConnection[TupleRow]) -> None:
    if conn.broken or conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    if time.monotonic() - _returned.pop(conn, 0.0) > _CHECK_AFTER_IDLE:
        await AsyncConnectionPool.check_connection(conn)


T = TypeVar("T")

#: Rows deleted per purge statement, and statements per purge call.
_PURGE_BATCH = 1000
_PURGE_ROUNDS = 10
#: Seconds between sweeps of lapsed locks (left behind by daemons that died holding them).
_LOCK_SWEEP = 60.0
#: The server's limit on a statement, as a share of the timeout: a slow statement is cancelled
#: by the server (and its connection stays usable) before the caller's deadline passes.
_STATEMENT_SHARE = 0.9
#: The largest scan cursor: ``0x01`` followed by the longest id.
_CURSOR_BYTES = 1 + 128

#: The database's clock, in seconds since the epoch (lock leases are judged by it).
_CLOCK = "extract(epoch FROM clock_timestamp())::float8"
#: A session's deadline after an access at ``now`` (``created``/``ttl`` are the row's).
_DEADLINE = "least(%(now)s + coalesce(ttl, {ttl}), created + {maxlife})"

_DDL = [
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    """CREATE TABLE IF NOT EXISTS {sessions} (
        sid text COLLATE "C" PRIMARY KEY,
        data bytea NOT NULL,
        user_id bytea
    )""",
    """CREATE INDEX IF NOT EXISTS sessions_user_id ON {sessions} (user_id)
        WHERE user_id IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS {times} (
        sid text COLLATE "C" PRIMARY KEY,
        created float8 NOT NULL,
        accessed float8 NOT NULL,
        ttl integer,
        expires_at float8 NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS times_expires_at ON {times} (expires_at)",
    """CREATE TABLE IF NOT EXISTS {locks} (
        sid text COLLATE "C" PRIMARY KEY,
        token bytea NOT NULL,
        expires_at float8 NOT NULL
    )""",
]

_TABLES = ("sessions", "times", "locks")

#: Each statement takes its parameters by name; ``{...}`` are the schema's tables and the
#: daemon's lifetimes, filled in once.
_STATEMENTS = {
    # -> the pairs, if the session is live; slides its idle expiry.
    "load": f"""
        WITH t AS (
            UPDATE {{times}} SET accessed = %(now)s, expires_at = {_DEADLINE}
            WHERE sid = %(sid)s AND expires_at > %(now)s AND {_DEADLINE} > %(now)s
            RETURNING sid
        )
        SELECT s.data FROM t JOIN {{sessions}} s ON s.sid = t.sid
    """,
    # -> the pairs and the seconds left, if the session is live.
    "peek": """
        SELECT s.data, t.expires_at - %(now)s
        FROM {times} t JOIN {sessions} s ON s.sid = t.sid
        WHERE t.sid = %(sid)s AND t.expires_at > %(now)s
    """,
    "get_ttl": """
        SELECT expires_at - %(now)s FROM {times} WHERE sid = %(sid)s AND expires_at > %(now)s
    """,
    # Claim the id in ``times`` (insert, or replace an expired row), then write the pairs.
    # -> a row if created.
    "create": """
        WITH claim AS (
            INSERT INTO {times} AS t (sid, created, accessed, ttl, expires_at)
            VALUES (%(sid)s, %(now)s, %(now)s, NULL, %(deadline)s)
            ON CONFLICT (sid) DO UPDATE SET created = excluded.created,
                accessed = excluded.accessed, ttl = NULL, expires_at = excluded.expires_at
            WHERE t.expires_at <= %(now)s
            RETURNING sid
        )
        INSERT INTO {sessions} AS s (sid, data, user_id)
        SELECT sid, %(data)s::bytea, %(user)s::bytea FROM claim
        ON CONFLICT (sid) DO UPDATE SET data = excluded.data, user_id = excluded.user_id
        RETURNING 1
    """,
    # Update a live session, if the lock still has the token (when one is given).
    # -> (saved, the lock has the token, the session was live)
    "save": f"""
        WITH fence AS (
            SELECT FROM {{locks}}
            WHERE sid = %(sid)s AND token = %(token)s::bytea AND expires_at > {_CLOCK}
            FOR SHARE
        ), t AS (
            UPDATE {{times}} SET accessed = %(now)s, expires_at = {_DEADLINE}
            WHERE sid = %(sid)s AND expires_at > %(now)s
                AND (%(token)s::bytea IS NULL OR EXISTS (SELECT FROM fence))
            RETURNING sid
        ), s AS (
            UPDATE {{sessions}} SET data = %(data)s::bytea, user_id = %(user)s::bytea
            WHERE sid IN (SELECT sid FROM t)
            RETURNING sid
        )
        SELECT EXISTS (SELECT FROM s),
            %(token)s::bytea IS NULL OR EXISTS (SELECT FROM fence),
            EXISTS (SELECT FROM {{times}} WHERE sid = %(sid)s AND expires_at > %(now)s)
    """,
    # -> whether the deleted session was live (no row: there was none).
    "delete": """
        WITH t AS (
            DELETE FROM {times} WHERE sid = %(sid)s RETURNING sid, expires_at > %(now)s AS live
        ), s AS (
            DELETE FROM {sessions} WHERE sid IN (SELECT sid FROM t)
        )
        SELECT live FROM t
    """,
    # A rename is the one change that holds two sessions' rows at once.  Renames whose ids
    # overlap take turns, on advisory locks taken in key order before the rename's snapshot
    # (a row made since a snapshot is not seen, so row locks alone cannot be ordered).
    "rename_turn": """
        SELECT pg_advisory_xact_lock(%(space)s::integer, key)
        FROM unnest(%(keys)s::integer[]) AS key
    """,
    # Lock the live old row, claim the new id with its times (insert, or replace an expired
    # row), and only then delete the old rows and move the pairs.  -> a row if renamed.
    "rename": """
        WITH src AS (
            SELECT created, accessed, ttl, expires_at FROM {times}
            WHERE sid = %(old)s
            FOR UPDATE
        ), claim AS (
            INSERT INTO {times} AS t (sid, created, accessed, ttl, expires_at)
            SELECT %(new)s, created, accessed, ttl, expires_at FROM src
            WHERE expires_at > %(now)s
            ON CONFLICT (sid) DO UPDATE SET created = excluded.created,
                accessed = excluded.accessed, ttl = excluded.ttl, expires_at = excluded.expires_at
            WHERE t.expires_at <= %(now)s
            RETURNING sid
        ), gone AS (
            DELETE FROM {times} WHERE sid = %(old)s AND EXISTS (SELECT FROM claim)
            RETURNING sid
        ), moved AS (
            DELETE FROM {sessions} WHERE sid IN (SELECT sid FROM gone)
            RETURNING data, user_id
        )
        INSERT INTO {sessions} AS s (sid, data, user_id)
        SELECT %(new)s, data, user_id FROM moved
        ON CONFLICT (sid) DO UPDATE SET data = excluded.data, user_id = excluded.user_id
        RETURNING 1
    """,
    "set_ttl": """
        UPDATE {times} SET ttl = %(ttl)s::integer, accessed = %(now)s,
            expires_at = least(%(now)s + %(ttl)s::integer, created + {maxlife})
        WHERE sid = %(sid)s AND expires_at > %(now)s
        RETURNING 1
    """,
    # One batch of expired sessions, oldest first, skipping rows locked by someone else (a
    # concurrent sweep, or a create replacing the row).  -> how many.
    "purge": f"""
        WITH gone AS (
            DELETE FROM {{times}}
            WHERE sid IN (
                SELECT sid FROM {{times}} WHERE expires_at <= %(now)s
                ORDER BY expires_at LIMIT {_PURGE_BATCH}
                FOR UPDATE SKIP LOCKED
            ) AND expires_at <= %(now)s
            RETURNING sid
        ), s AS (
            DELETE FROM {{sessions}} WHERE sid IN (SELECT sid FROM gone)
        )
        SELECT count(*) FROM gone
    """,
    # One batch of sessions idle since before ``before``; rows locked by someone else are in
    # use, hence not idle.  -> how many, and how many of them were live (expired ones go too,
    # uncounted).
    "gc": f"""
        WITH gone AS (
            DELETE FROM {{times}}
            WHERE sid IN (
                SELECT sid FROM {{times}} WHERE accessed < %(before)s
                LIMIT {_PURGE_BATCH}
                FOR UPDATE SKIP LOCKED
            ) AND accessed < %(before)s
            RETURNING sid, expires_at > %(now)s AS live
        ), s AS (
            DELETE FROM {{sessions}} WHERE sid IN (SELECT sid FROM gone)
        )
        SELECT count(*), count(*) FILTER (WHERE live) FROM gone
    """,
    "count": "SELECT count(*) FROM {times} WHERE expires_at > %(now)s",
    "scan": """
        SELECT sid FROM {times} WHERE sid > %(after)s AND expires_at > %(now)s
        ORDER BY sid LIMIT %(count)s::bigint
    """,
    "user_sessions": """
        SELECT s.sid FROM {sessions} s JOIN {times} t ON t.sid = s.sid
        WHERE s.user_id = %(user)s::bytea AND t.expires_at > %(now)s
        ORDER BY s.sid
    """,
    "lock_acquire": f"""
        INSERT INTO {{locks}} AS l (sid, token, expires_at)
        VALUES (%(sid)s, %(token)s::bytea, {_CLOCK} + %(lease)s)
        ON CONFLICT (sid) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
        WHERE l.expires_at <= {_CLOCK}
        RETURNING 1
    """,
    # -> the (sid, token) pairs that were still held, and are extended.
    "lock_renew": f"""
        UPDATE {{locks}} AS l SET expires_at = {_CLOCK} + %(lease)s
        FROM unnest(%(sids)s::text[], %(tokens)s::bytea[]) AS h (sid, token)
        WHERE l.sid = h.sid AND l.token = h.token AND l.expires_at > {_CLOCK}
        RETURNING l.sid, l.token
    """,
    "lock_release": """
        DELETE FROM {locks} WHERE sid = %(sid)s AND token = %(token)s::bytea
    """,
    "lock_sweep": f"""
        DELETE FROM {{locks}} WHERE sid IN (
            SELECT sid FROM {{locks}} WHERE expires_at <= {_CLOCK}
            LIMIT {_PURGE_BATCH} FOR UPDATE SKIP LOCKED
        ) AND expires_at <= {_CLOCK}
    """,
}


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


class PostgresStorage(Storage):
    """Sessions in PostgreSQL; see the module docstring."""

    scheme = "postgresql"
    shared = True
    native_expiry = False

    def __init__(self, url: str, options: StorageOptions) -> None:
        super().__init__(url, options)
        self._target, self.schema, self.timeout, self.max_connections = parse_postgres_url(url)
        password = urlsplit(url).password or ""
        #: What must never appear in a message: the password as written and as decoded.
        self._secrets = sorted({password, unquote(password)} - {""}, key=len, reverse=True)
        self._pool: Pool | None = None
        self._ttl = options.ttl
        self._maxlife = options.max_lifetime
        self._user_keys = options.user_keys
        self._lock_sweep_at = 0.0
        #: The first key of this schema's advisory locks (renames take turns on them).
        self._space = _advisory_key(self.schema) >> 32
        #: Calls whose caller stopped waiting, being cancelled (they hold a connection).
        self._abandoned: set[asyncio.Task[Any]] = set()
        names: dict[str, sql.Composable] = {
            "schema": sql.Identifier(self.schema),
            "ttl": sql.Literal(options.ttl),
            "maxlife": sql.Literal(
                None if options.max_lifetime is None else float(options.max_lifetime)
            ),
            **{table: sql.Identifier(self.schema, table) for table in _TABLES},
        }
        # Rendered once: the statements are the same for every call, only parameters vary.
        self._ddl = [sql.SQL(text).format(**names).as_bytes() for text in _DDL]
        self._sql = {
            name: sql.SQL(text).format(**names).as_bytes() for name, text in _STATEMENTS.items()
        }

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

    async def start(self) -> None:
        with self._errors():
            args = self._connect_args()

        # One connection first: it creates the tables, and a server that cannot be reached
        # fails here with libpq's own reason (the pool would only report a timeout).
        async def prepare() -> None:
            conn = await psycopg.AsyncConnection.connect(self._target, **args)
            async with conn:
                await self._create_tables(conn)

        await self._bounded(prepare())
        pool: Pool = AsyncConnectionPool(
            self._target,
            kwargs=args,
            min_size=min(2, self.max_connections),
            max_size=self.max_connections,
            timeout=self.timeout,
            check=_check_if_idle,
            reset=_mark_returned,
            # While the server is away, give up reconnecting soon: the next call starts a
            # fresh attempt at once, instead of waiting out an ever longer backoff.
            reconnect_timeout=max(1.0, self.timeout),
            name=f"sessionserver-{self.schema}",
            open=False,
        )
        try:
            with self._errors():
                await pool.open(wait=True, timeout=self.timeout)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

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
                {"schema": self.schema, "tables": list(_TABLES)},
            )
            row = await cur.fetchone()
            assert row is not None
            schema_exists, tables = row
            if tables == len(_TABLES):
                return
            # CREATE SCHEMA needs the database's CREATE privilege even when the schema exists.
            for statement in self._ddl[1:] if schema_exists else self._ddl:
                await conn.execute(statement)

    async def stop(self) -> None:
        if self._abandoned:
            # Cancelled once already, they wait for the server to confirm; a second cancel
            # makes psycopg close their connections instead.
            for task in self._abandoned:
                task.cancel()
            await asyncio.wait(set(self._abandoned), timeout=self.timeout)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with self._errors():
                await pool.close(timeout=self.timeout)

    def info(self) -> dict[str, int | float | str]:
        if self._pool is None:
            return {}
        stats = self._pool.get_stats()
        return {
            "postgres_pool_size": stats.get("pool_size", 0),
            "postgres_pool_available": stats.get("pool_available", 0),
            "postgres_requests_waiting": stats.get("requests_waiting", 0),
        }

    # -- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """PostgreSQL's failures (and the pool's, and the network's) as the storage's, in one
        line and never with the password."""
        try:
            yield
        except psycopg.Error as exc:
            raise StorageError(self._message(exc)) from exc
        except (TimeoutError, OSError) as exc:
            raise StorageError(self._message(exc)) from exc

    def _message(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return f"postgresql: {text}"

    def _ready(self) -> Pool:
        if self._pool is None:
            raise StorageError("postgresql: the storage is not started")
        return self._pool

    async def _bounded(self, work: Coroutine[Any, Any, T]) -> T:
        """The result of ``work``, or StorageError once ``timeout`` has passed.

        The work runs as a task of its own, so that giving up never waits: psycopg, when
        cancelled mid-statement, asks the server to cancel it and waits for the answer, which
        a partitioned server never sends.  That clean-up goes on in the background.
        """
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait((task,), timeout=self.timeout)
        except BaseException:  # the caller was cancelled
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            raise StorageError(f"postgresql: no answer within {self.timeout:g} s")
        with self._errors():
            return task.result()

    def _abandon(self, task: asyncio.Task[Any]) -> None:
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: nobody is waiting for it any more

    async def _rows(self, name: str, params: dict[str, Any]) -> list[TupleRow]:
        """Run one statement (autocommit: it is its own transaction); its rows."""
        pool = self._ready()
        query = self._sql[name]

        async def work() -> list[TupleRow]:
            for attempt in (1, 2):
                async with pool.connection() as conn:
                    try:
                        cur = await conn.execute(query, params, binary=True)
                        return await cur.fetchall() if cur.description is not None else []
                    except psycopg.OperationalError:
                        # A pooled connection that died while idle (a server restart, a
                        # terminated backend) is found out here: one more try, on another.
                        if attempt == 2 or not conn.broken:
                            raise
            raise AssertionError("unreachable")

        return await self._bounded(work())

    async def _row(self, name: str, params: dict[str, Any]) -> TupleRow | None:
        rows = await self._rows(name, params)
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
        if not await self._create(sid, data, now):
            return False
        return ttl is None or await self.set_ttl(sid, ttl, now)

    async def _create(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        if not is_valid_id(sid):
            return False
        deadline = now + self._ttl
        if self._maxlife is not None:
            deadline = min(deadline, now + self._maxlife)
        params = {
            "sid": _sid(sid),
            "now": now,
            "deadline": deadline,
            "data": pack(data),
            "user": self._user(data),
        }
        return await self._row("create", params) is not None

    async def save(self, sid: bytes, data: dict[bytes, bytes], now: float) -> bool:
        return await self._save(sid, data, now, None)

    async def save_and_release(
        self, sid: bytes, token: bytes, data: dict[bytes, bytes], now: float, ttl: int | None
    ) -> bool:
        saved = await self._save(sid, data, now, token)
        if saved and ttl is not None:
            saved = await self.set_ttl(sid, ttl, now)
        await self.lock_release(sid, token)
        return saved

    async def _save(
        self, sid: bytes, data: dict[bytes, bytes], now: float, token: bytes | None
    ) -> bool:
        """Save, fenced by ``token`` (None: not fenced)."""
        if not is_valid_id(sid):
            return False
        params = {
            "sid": _sid(sid),
            "now": now,
            "token": token,
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

    async def delete(self, sid: bytes, now: float) -> bool:
        if not is_valid_id(sid):
            return False
        row = await self._row("delete", {"sid": _sid(sid), "now": now})
        return row is not None and bool(row[0])

    async def rename(self, old: bytes, new: bytes, now: float) -> bool:
        if not (is_valid_id(old) and is_valid_id(new)) or old == new:
            return False
        pool = self._ready()
        keys = sorted({_turn_key(old), _turn_key(new)})
        params = {"old": _sid(old), "new": _sid(new), "now": now}

        async def work() -> bool:
            # One transaction, sent at once (a pipeline): the turn, then the rename.
            async with pool.connection() as conn, conn.pipeline(), conn.transaction():
                await conn.execute(self._sql["rename_turn"], {"space": self._space, "keys": keys})
                cur = await conn.execute(self._sql["rename"], params, binary=True)
                return await cur.fetchone() is not None

        return await self._bounded(work())

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

    async def purge_expired(self, now: float) -> int:
        removed = 0
        for _ in range(_PURGE_ROUNDS):
            row = await self._row("purge", {"now": now})
            gone = int(row[0]) if row is not None else 0
            removed += gone
            if gone < _PURGE_BATCH:
                break
        # Locks whose holder died lapse without being released: drop them now and then.
        if time.monotonic() >= self._lock_sweep_at:
            self._lock_sweep_at = time.monotonic() + _LOCK_SWEEP
            await self._rows("lock_sweep", {})
        return removed

    async def gc(self, idle: float, now: float) -> int:
        removed = 0
        while True:
            row = await self._row("gc", {"before": now - idle, "now": now})
            gone, live = (int(row[0]), int(row[1])) if row is not None else (0, 0)
            removed += live
            if gone < _PURGE_BATCH:
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

    # -- locks ------------------------------------------------------------------------------

    async def lock_acquire(self, sid: bytes, token: bytes, lease: float) -> bool:
        if not is_valid_id(sid):
            return False
        params = {"sid": _sid(sid), "token": token, "lease": float(lease)}
        return await self._row("lock_acquire", params) is not None

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
