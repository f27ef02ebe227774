"""Load and save a session through the client: the storage half every adapter shares.

The backend carries out a :class:`cookies.SavePlan` with one command per phase (a read is
``read``, a save is one ``write``, ``create``, ``regenerate`` or ``destroy`` carrying the
lifetime when there is one to give), learns the seconds the session has left in the same
command (``withttl``) so that a cookie sent again carries the session's own lifetime, and
turns "the session went away meanwhile" into "the cookie goes" instead of bringing a destroyed
session back.  With ``lock=True`` a request holds
the session's write lock from its first read to its save (PHP's behaviour, for apps whose
requests of one user must not overlap).
"""

from __future__ import annotations

import logging
from typing import Any

from ..client._async.client import AsyncSessionClient
from ..client._async.session import AsyncSessionHandle
from ..cookies import SavePlan
from ..exceptions import SessionNotFound
from ..session import Saved, Stored

__all__ = ["AsyncSessionBackend"]

logger = logging.getLogger(__name__)


class AsyncSessionBackend:
    """An adapter's storage: one client (and pool) per backend, shared by requests."""

    def __init__(self, client: AsyncSessionClient, *, lock: bool = False) -> None:
        self.client = client
        self.lock = lock

    async def load(self, sid: str, holder: dict[str, Any]) -> Stored | None:
        """The stored session with its seconds left, or None.  With ``lock``, the session
        stays open for writing on a held connection (kept in ``holder``) until :meth:`save`
        or :meth:`release` (its seconds left are then asked only if a save needs them)."""
        if not self.lock:
            try:
                seconds, raw = await self.client.read_with_ttl(sid)
            except SessionNotFound:
                return None
            return Stored(raw, seconds)
        handle = self.client.session(sid, mode="w")
        try:
            await handle.__aenter__()
        except SessionNotFound:
            return None
        holder["handle"] = handle
        return Stored(await handle.get_all())

    async def release(self, holder: dict[str, Any]) -> None:
        """Let go of a held session without saving (an error, a 5xx, nothing changed)."""
        handle: AsyncSessionHandle | None = holder.pop("handle", None)
        if handle is not None:
            await handle.abort()
            await handle.__aexit__(None, None, None)

    async def save(
        self,
        plan: SavePlan,
        sid: str | None,
        changed: dict[str, bytes],
        removed: list[str],
        ttl: int | None,
        holder: dict[str, Any],
        *,
        fresh_ttl: int | None = None,
        fresh: dict[str, bytes] | None = None,
        blind: bool = False,
        known_left: int | None = None,
    ) -> Saved:
        """Carry out ``plan``; the id the cookie should carry and the session's seconds left.

        ``ttl`` is the idle lifetime to give the session (None: it keeps the one it has; a
        new session then gets the server's default).  When the plan sends the cookie of an
        id that stays, a write asks for the seconds left in the same command.  A ``blind``
        write (the request set keys without reading the session) that finds the session gone
        (a stale cookie: logged out everywhere, expired) starts a fresh session with its
        changes (or ``fresh``, the pairs an adapter starts its new sessions with) and
        ``fresh_ttl``, as a request without a cookie would; a write that read the session first
        is dropped.  ``known_left`` is what the load of this request said the session has
        left: the write then need not ask again (it slides the same idle lifetime), and the
        saved seconds are None (the adapter uses what the load said).
        """
        handle: AsyncSessionHandle | None = holder.pop("handle", None)
        store = plan.store
        resend = plan.cookie == "set" and ttl is None and known_left is None
        try:
            if handle is None:
                return await self._run(store, sid, changed, removed, ttl, resend=resend)
            # Held (lock): the seconds left cost one more round trip, and only when needed.
            seconds = await handle.ttl() if resend else ttl
            if store == "write":
                await handle.save(changed, removed, ttl=ttl)
                return Saved(sid, seconds)
            await handle.abort()
            if store == "none":
                return Saved(sid, seconds)
            return await self._run(store, sid, changed, removed, ttl, resend=False)
        except SessionNotFound:
            if blind and store == "write" and changed:
                pairs = changed if fresh is None else fresh
                return Saved(await self.client.create(pairs, ttl=fresh_ttl), fresh_ttl)
            # Destroyed (a logout elsewhere) or expired meanwhile: never bring it back.
            logger.info("session went away during the request; not saving it")
            return Saved(None)
        finally:
            if handle is not None:
                await handle.__aexit__(None, None, None)

    async def _run(
        self,
        store: str,
        sid: str | None,
        changed: dict[str, bytes],
        removed: list[str],
        ttl: int | None,
        *,
        resend: bool,
    ) -> Saved:
        if store == "create":
            return Saved(await self.client.create(changed, ttl=ttl), ttl)
        if store == "none":
            return Saved(sid)
        assert sid is not None
        if store == "write" and resend:
            return Saved(sid, await self.client.write_with_ttl(sid, changed, removed))
        if store == "write":
            await self.client.write(sid, changed, removed, ttl=ttl)
            return Saved(sid, ttl)
        if store == "regenerate":
            return Saved(await self.client.regenerate(sid, changed, removed, ttl=ttl), ttl)
        await self.client.destroy(sid)
        return Saved(None)
