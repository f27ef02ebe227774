"""Sessions kept in the session server, for Starlette, FastAPI and any ASGI application.

A drop-in for Starlette's ``SessionMiddleware``: the same options (``secret_key`` is not needed,
the cookie only carries a 128-bit random id), the same behaviour (``Set-Cookie`` when the
session changed, ``Vary: Cookie`` when it was accessed, ``Max-Age`` spelling), and the session
in ``scope["session"]`` so that ``request.session`` works::

    app.add_middleware(SessionMiddleware, url="sessionserver://127.0.0.1:9090")

The session is a dict that loads on first read: a request that never reads it sends nothing,
with or without a cookie (so a session server outage does not touch ``/docs`` or a health
route), and one that only sets keys sends one command.  ``request.session`` is synchronous and
the server is not, so a read before the load waits for it without blocking the event loop:
in an async view through a greenback portal the middleware opens for the request's task, in a
sync view (a worker thread) through ``anyio.from_thread``.  Code in a task of its own (an
inner ``BaseHTTPMiddleware``, a task group the view starts) awaits
:func:`load_session` first; a read there before it raises a ``RuntimeError`` saying so.
At ``http.response.start`` only the keys that changed (changes inside values included) are
written back, in one round trip; nothing is saved on a 5xx response or after the response has
started.  ``scope["session"].regenerate()`` (login), ``.invalidate()`` (logout) and ``.ttl =
seconds`` (its own lifetime, on purpose) are there too.  With ``lock=True`` a request with a
cookie loads the session (and takes its lock) before the app runs, as PHP does.

``autoload`` trades the first of those guarantees for speed, as starsessions'
``SessionAutoloadMiddleware`` does: on the paths it names (``True``: all of them; else a list
of regular expressions matched at the start of the path, as there) a request with a cookie
loads its session before the app runs, whether or not the app reads it, and no portal is
opened.  The portal is most of what a lazy session costs (about 130 us of the worker's CPU
per request in ``sessionserver bench``'s Starlette view, half of it opening the portal and
waiting in it, half reading through it); leave health routes out of the list, or a session
server outage fails them.

The middleware's client is created with the middleware and closed at lifespan shutdown.  When
the server runs no lifespan, each request's connections are closed at its end, since the event
loop may not outlive it (test clients do this).  When the session server cannot be reached,
reading the session raises ``sessionserver.exceptions.ConnectError``, naming the address.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

import anyio.from_thread
import greenback

from sessionserver.backend import AsyncSessionBackend, valid_cookie
from sessionserver.client import DEFAULT_URL, AsyncSessionClient
from sessionserver.client._primitives import loop_token
from sessionserver.cookies import CookieSettings
from sessionserver.saving import prepare, set_cookie
from sessionserver.session import Session, Stored
from sessionserver.values import JSON, Serializer

__all__ = ["ASGISession", "SessionMiddleware", "load_session", "logout_everywhere"]

Scope = dict[str, Any]
Message = dict[str, Any]
AsyncLoader = Callable[[str], Coroutine[Any, Any, "Stored | None"]]

_NO_PORTAL = (
    "the session was first read in a task the session middleware did not start (an inner "
    "BaseHTTPMiddleware, a task group): 'await sessionserver.middleware.asgi.load_session"
    "(request)' there first, or put SessionMiddleware inside the other middleware"
)


class ASGISession(Session):
    """The lazily loaded session of one ASGI request (a dict; see the module docstring)."""

    def __init__(self, sid: str | None, aload: AsyncLoader, serializer: Serializer = JSON) -> None:
        super().__init__(sid, self._load_from_sync_code, serializer)
        self._aload = aload
        self._loop_thread = threading.get_ident()
        self._token = loop_token() if sid is not None else None

    async def load_async(self) -> None:
        """Load now, from async code (a no-op once loaded)."""
        if not self.loaded:
            assert self.sid is not None
            self.set_loaded(await self._aload(self.sid))

    def _load_from_sync_code(self, sid: str) -> Stored | None:
        if threading.get_ident() != self._loop_thread:
            return anyio.from_thread.run(self._aload, sid, token=self._token)
        if not greenback.has_portal():
            raise RuntimeError(_NO_PORTAL)
        return greenback.await_(self._aload(sid))


async def load_session(scope: Any) -> ASGISession:
    """Load the request's session now, without blocking the event loop, and return it (for
    code running in a task of its own; ``scope`` is the ASGI scope or a Starlette request)."""
    session: ASGISession = getattr(scope, "scope", scope)["session"]
    await session.load_async()
    return session


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
        autoload: load the session before the app on every request with a cookie (True) or
            on the paths matching one of these regular expressions, as starsessions'
            ``SessionAutoloadMiddleware`` does (no portal; see the module docstring).
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
        autoload: bool | Sequence[str | re.Pattern[str]] = False,
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
        if isinstance(autoload, str | re.Pattern):
            autoload = [autoload]  # one pattern, not its characters
        self._autoload = (
            autoload if isinstance(autoload, bool) else [re.compile(p) for p in autoload]
        )
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
        session = ASGISession(sid, lambda s: self.backend.load(s, holder), self.serializer)
        scope["session"] = session
        scope["sessionserver.client"] = self.client
        saved = False

        async def session_send(message: Message) -> None:
            nonlocal saved
            if message["type"] == "http.response.start" and not saved:
                saved = True
                await self._save(session, message, had_cookie, holder)
            await send(message)

        try:
            if sid is None:
                await self.app(scope, receive, session_send)
            elif self.backend.lock or self._loads_first(scope):
                await session.load_async()  # autoload, or the lock for the whole request
                await self.app(scope, receive, session_send)
            else:
                await greenback.with_portal_run(self.app, scope, receive, session_send)
        finally:
            if not saved:
                await self.backend.release(holder)

    def _loads_first(self, scope: Scope) -> bool:
        """Whether ``autoload`` names this request's path."""
        paths = self._autoload
        if isinstance(paths, bool):
            return paths
        path = scope.get("path", "")
        return any(pattern.match(path) for pattern in paths)

    async def _save(
        self, session: ASGISession, message: Message, had_cookie: bool, holder: dict[str, Any]
    ) -> None:
        if not session.accessed and not session.loaded:
            return  # never touched: nothing sent, no cookie, no Vary
        todo = prepare(
            session, status=message["status"], had_cookie=had_cookie, max_age=self.cookie.max_age
        )
        if todo.plan.store == "none":
            await self.backend.release(holder)
        saved = await self.backend.save(
            todo.plan,
            session.sid,
            todo.changed,
            todo.removed,
            todo.ttl,
            holder,
            fresh_ttl=todo.fresh_ttl,
            fresh=todo.fresh,
            blind=todo.blind,
            known_left=todo.known_left,
        )
        header = set_cookie(session, saved, todo.plan, self.cookie, had_cookie=had_cookie)
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
        if todo.plan.vary or header is not None:
            _add_vary(headers)
        if header is not None:
            headers.append((b"set-cookie", header.encode()))
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
