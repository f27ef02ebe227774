"""Sessions kept in the session server, for Starlette, FastAPI and any ASGI application.

A drop-in for Starlette's ``SessionMiddleware``: the same options (``secret_key`` is not needed,
the cookie only carries a 128-bit random id), the same behaviour (``Set-Cookie`` only when the
session changed, ``Vary: Cookie`` when it was accessed, ``Max-Age`` spelling), and the session
in ``scope["session"]`` so that ``request.session`` works::

    app.add_middleware(SessionMiddleware, url="sessionserver://127.0.0.1:9090")

The session is a dict.  Because ``request.session`` is synchronous and talking to the server is
not, a request that carries a session cookie loads the session before the app runs (one round
trip); a request without one costs nothing.  At ``http.response.start`` only the keys that
changed (changes inside values included) are written back, in one round trip; nothing is saved
on a 5xx response or after the response has started.  ``scope["session"].regenerate()`` (login)
and ``.invalidate()`` (logout) are there too.

The middleware's client is created with the middleware and closed at lifespan shutdown.  When
the server runs no lifespan, each request's connections are closed at its end, since the event
loop may not outlive it (test clients do this).  When the session server cannot be reached,
the request fails with ``sessionserver.exceptions.ConnectError``, naming the address.
"""

from __future__ import annotations

from typing import Any, Literal

from sessionserver.backend import AsyncSessionBackend, valid_cookie
from sessionserver.client import DEFAULT_URL, AsyncSessionClient
from sessionserver.cookies import (
    CookieSettings,
    delete_cookie_header,
    plan_save,
    set_cookie_header,
)
from sessionserver.session import JSON, Serializer, decode_all, diff

__all__ = ["ASGISession", "SessionMiddleware", "logout_everywhere"]

Scope = dict[str, Any]
Message = dict[str, Any]


class ASGISession(dict[str, Any]):
    """A dict that knows whether it was accessed and modified (as Starlette's own does)."""

    accessed = False
    modified = False
    invalidated = False
    regenerate_requested = False
    #: The id the session was loaded under (None for a new one).
    sid: str | None = None

    def mark_accessed(self) -> None:
        self.accessed = True

    def mark_modified(self) -> None:
        self.accessed = True
        self.modified = True

    def __setitem__(self, key: str, value: Any) -> None:
        self.mark_modified()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.mark_modified()
        super().__delitem__(key)

    def clear(self) -> None:
        self.mark_modified()
        super().clear()

    def pop(self, key: str, *args: Any) -> Any:
        if key in self:
            self.mark_modified()
        return super().pop(key, *args)

    def popitem(self) -> tuple[str, Any]:
        self.mark_modified()
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.mark_modified()
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.mark_modified()
        super().update(*args, **kwargs)

    def __ior__(self, other: Any, /) -> ASGISession:  # type: ignore[override,misc]
        self.mark_modified()
        super().update(other)
        return self

    def invalidate(self) -> None:
        """Destroy the stored session when the response starts (logout)."""
        self.clear()
        self.invalidated = True

    def regenerate(self) -> None:
        """Move the data to a new id when the response starts (login: stops fixation)."""
        self.mark_accessed()
        self.regenerate_requested = True


class SessionMiddleware:
    """ASGI middleware; see the module docstring.

    Args:
        app: the ASGI application.
        url: the daemon, unless ``client`` is given.
        client: an :class:`AsyncSessionClient` to use (closed at lifespan shutdown).
        session_cookie, max_age, path, same_site, https_only, domain, partitioned: the
            cookie, exactly as in Starlette's ``SessionMiddleware`` (``max_age`` is also the
            server-side idle lifetime; None: a browser-session cookie, the server's default).
        lock: hold each session's write lock for the whole request.
        serializer: how values are encoded (JSON; the same in every app sharing sessions).
    """

    def __init__(
        self,
        app: Any,
        url: str = DEFAULT_URL,
        *,
        client: AsyncSessionClient | None = None,
        session_cookie: str = "session",
        max_age: int | None = 14 * 24 * 60 * 60,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
        partitioned: bool = False,
        lock: bool = False,
        serializer: Serializer = JSON,
    ) -> None:
        self.app = app
        self.client = client or AsyncSessionClient(url)
        self.backend = AsyncSessionBackend(self.client, lock=lock)
        self.cookie = CookieSettings(
            name=session_cookie,
            max_age=max_age,
            path=path,
            domain=domain,
            secure=https_only,
            httponly=True,
            samesite=same_site,
            partitioned=partitioned,
        )
        self.serializer = serializer
        self._lifespan = False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            await self._handle(scope, receive, send)
        finally:
            if not self._lifespan:
                await self.client.aclose()  # this event loop may end with the request

    def _lifespan_send(self, send: Any) -> Any:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._lifespan = True
            elif message["type"] == "lifespan.shutdown.complete":
                await self.client.aclose()
                self._lifespan = False
            await send(message)

        return lifespan_send

    async def _handle(self, scope: Scope, receive: Any, send: Any) -> None:
        cookie_value = _cookie(scope, self.cookie.name)
        had_cookie = cookie_value is not None
        sid = valid_cookie(cookie_value)
        holder: dict[str, Any] = {}
        raw = await self.backend.load(sid, holder) if sid is not None else None
        new = raw is None
        session = ASGISession(decode_all(raw or {}, self.serializer))
        session.sid = None if new else sid
        scope["session"] = session
        scope["sessionserver.client"] = self.client
        saved = False

        async def session_send(message: Message) -> None:
            nonlocal saved
            if message["type"] == "http.response.start" and not saved:
                saved = True
                await self._save(
                    session, raw or {}, None if new else sid, message, had_cookie, holder
                )
            await send(message)

        try:
            await self.app(scope, receive, session_send)
        finally:
            if not saved:
                await self.backend.release(holder)

    async def _save(
        self,
        session: ASGISession,
        raw: dict[str, bytes],
        sid: str | None,
        message: Message,
        had_cookie: bool,
        holder: dict[str, Any],
    ) -> None:
        changed, removed = diff(raw, session, self.serializer) if session.accessed else ({}, [])
        max_age = self.cookie.max_age
        expired = max_age is not None and max_age <= 0
        plan = plan_save(
            status=message["status"],
            accessed=session.accessed,
            new=sid is None,
            had_cookie=had_cookie,
            modified=bool(changed or removed) or session.invalidated,
            empty=not session,
            invalidated=session.invalidated,
            regenerate=session.regenerate_requested,
            expired=expired,
        )
        if plan.store == "none":
            await self.backend.release(holder)
        # One lifetime per session: a new session (or a new id) gets ``max_age``; a write
        # leaves the lifetime the session has, and its cookie is not sent again.
        ttl = max_age if not expired and (sid is None or plan.store == "regenerate") else None
        new_sid = await self.backend.save(plan, sid, changed, removed, ttl, holder)
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
        if plan.vary:
            _add_vary(headers)
        if plan.cookie == "set" and new_sid is not None:
            headers.append((b"set-cookie", set_cookie_header(self.cookie, new_sid).encode()))
        elif plan.cookie == "delete" or (plan.cookie == "set" and had_cookie):
            headers.append((b"set-cookie", delete_cookie_header(self.cookie).encode()))
        message["headers"] = headers


def _cookie(scope: Scope, name: str) -> str | None:
    """The value of one cookie of the request (the last one wins, as in Starlette)."""
    found = None
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for chunk in value.decode("latin-1").split(";"):
                cname, sep, cvalue = chunk.strip().partition("=")
                if sep and cname == name:
                    found = cvalue.strip().strip('"')
    return found


def _add_vary(headers: list[tuple[bytes, bytes]]) -> None:
    for i, (key, value) in enumerate(headers):
        if key.lower() == b"vary":
            if b"cookie" not in value.lower():
                headers[i] = (key, value + b", Cookie")
            return
    headers.append((b"vary", b"Cookie"))


async def logout_everywhere(scope: Any, user_id: str | int, *, keep_current: bool = True) -> int:
    """Destroy every session of ``user_id`` (but the current one, unless
    ``keep_current=False``); how many.  ``scope`` is the request's ASGI scope (or a Starlette
    request).  The user is whoever the ``_user_id`` key of a session names."""
    scope = getattr(scope, "scope", scope)
    client: AsyncSessionClient = scope["sessionserver.client"]
    keep = scope["session"].sid if keep_current else None
    return await client.destroy_user(user_id, keep)
