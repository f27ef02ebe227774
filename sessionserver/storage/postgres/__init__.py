"""``postgresql://`` (or ``postgres://``): sessions in PostgreSQL, shared by daemons.

Several daemons may point at one database and behave as one server: the sessions, their locks
and the user index all live in the database, never in a daemon's memory.

Three tables, in their own schema (``?schema=``, default ``sessionserver``), which ``start``
creates if they are missing (under an advisory lock, so daemons starting at once do not race):

- ``sessions(sid, data, user_id)``: the session's pairs as one ``bytea`` (:mod:`..pairs`) and
  the user they name (:func:`~..base.user_id`), indexed, so the user index is exact: it is
  written with the pairs, moves with a rename and disappears with the row.
- ``times(sid, created, accessed, ttl, expires_at)``: what expiry needs, in a narrow row of
  its own.  PostgreSQL rewrites a whole row on every ``UPDATE``, so an access (which slides the
  idle expiry) updates this row only and never rewrites the pairs.  ``expires_at`` is the
  deadline, ``min(accessed + (ttl or the default), created + max_lifetime)``, computed from
  the daemon's clock (the ``now`` every method is given) and indexed: reads compare it with
  ``now`` (expired equals absent at once) and ``purge_expired`` deletes what lapsed through
  the index, in bounded batches, skipping rows another daemon's sweep has locked, so it costs
  one index probe when nothing expired.
- ``locks(sid, token, expires_at)``: the sessions' write locks.  The lease is judged by the
  database's clock, so daemons with skewed clocks agree.  A lock is taken by an upsert that
  only overwrites a lapsed lease, extended and released by statements that compare the token.
  A save under a lock carries the token and is refused (:class:`~..base.LockLost`) unless the
  lock still has it and its lease is running.

One statement per request phase (``sql/``; its steps are data-modifying ``WITH`` queries), so
each is atomic and one round trip: a read; lock and load; a fenced save with its new lifetime
and the release; a one-command write (merging the pairs in SQL); a rename is one transaction of
two statements sent at once.  Reads and lock steps write only what a crash of the server may
forget (accesses, locks), so they do not wait for the WAL flush; saves, creates, writes and
deletes do.  Nothing deadlocks: rows are locked in one order (a lock, then a times row, then a
sessions row), the sweeps (purge, gc) skip rows locked by others instead of waiting, and
renames, the only changes that hold two sessions at once, take turns on advisory locks when
their ids overlap.  Create is create-if-absent (an expired row is replaced), save is
update-if-present and never brings back a deleted or expired session.

Statements go through a few connections in pipeline mode (:mod:`.lanes`; ``?max_connections=``,
default 4): what the daemon's connections send while a lane is busy shares its next round trip.
No call takes longer than ``?timeout=`` seconds (default 5), waiting for a connection,
connecting and the statement included: the caller stops waiting then, whatever the network does
(a partition acknowledges nothing and answers nothing), while the abandoned work is cancelled
and its connection discarded in the background. The same timeout also bounds the connect and
unacknowledged writes (libpq's ``connect_timeout`` and ``tcp_user_timeout``), and PostgreSQL's
``statement_timeout`` cancels a slow statement on the server shortly before the caller gives
up. A lane that cannot connect tries again with the next batch, so the container recovers by
itself as soon as the server is back. Every failure surfaces as :class:`~..base.StorageError`,
which the daemon answers with ``err``. Other query parameters go to libpq (``sslmode``, ...).
"""

from __future__ import annotations

from .storage import PostgresStorage

__all__ = ["PostgresStorage"]
