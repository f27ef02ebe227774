"""Load and save a session through the client: the storage half every adapter shares.

The backend carries out a :class:`cookies.SavePlan` with one command per phase (a read is
``read``, a save is one ``write``, ``create``, ``regenerate`` or ``destroy`` carrying the
lifetime when there is one to give), and turns "the session went away meanwhile" into "the
cookie goes" instead of bringing a destroyed session back.  With ``lock=True`` a request holds
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

__all__ = ["AsyncSessionBackend"]

logger = logging.getLogger(__name__)


class AsyncSessionBackend:
    """An adapter's storage: one client (and pool) per backend, shared by requests."""

    def __init__(self, client: AsyncSessionClient, *, lock: bool = False) -> None:
        self.client = client
        self.lock = lock

    async def load(self, sid: str, holder: dict[str, Any]) -> dict[str, bytes] | None:
        """The stored pairs, or None.  With ``lock``, the session stays open for writing on a
        held connection (kept in ``holder``) until :meth:`save` or :meth:`release`."""
        if not self.lock:
            try:
                return await self.client.read(sid)
            except SessionNotFound:
                return None
        handle = self.client.session(sid, mode="w")
        try:
            await handle.__aenter__()
        except SessionNotFound:
            return None
        holder["handle"] = handle
        return await handle.get_all()

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
        blind: bool = False,
    ) -> str | None:
        """Carry out ``plan``; the id the cookie should carry (None: delete it).

        ``ttl`` is the idle lifetime to give the session (None: it keeps the one it has; a
        new session then gets the server's default).  A ``blind`` write (the request set keys
        without reading the session) that finds the session gone (a stale cookie: logged out
        everywhere, expired) starts a fresh session with its changes and ``fresh_ttl``, as a
        request without a cookie would; a write that read the session first is dropped.
        """
        handle: AsyncSessionHandle | None = holder.pop("handle", None)
        store = plan.store
        try:
            if handle is not None and store == "write":
                await handle.save(changed, removed, ttl=ttl)
                return sid
            if handle is not None:
                await handle.abort()
            if store == "none":
                return sid
            if store == "create":
                return await self.client.create(changed, ttl=ttl)
            assert sid is not None
            if store == "write":
                await self.client.write(sid, changed, removed, ttl=ttl)
            elif store == "regenerate":
                return await self.client.regenerate(sid, changed, removed, ttl=ttl)
            elif store == "destroy":
                await self.client.destroy(sid)
                return None
            return sid
        except SessionNotFound:
            if blind and store == "write" and changed:
                return await self.client.create(changed, ttl=fresh_ttl)
            # Destroyed (a logout elsewhere) or expired meanwhile: never bring it back.
            logger.info("session went away during the request; not saving it")
            return None
        finally:
            if handle is not None:
                await handle.__aexit__(None, None, None)
