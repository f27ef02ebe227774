"""Sessions kept in the session server, for any WSGI application.

::

    app = SessionMiddleware(app, url="sessionserver://127.0.0.1:9090")

    def view(environ, start_response):
        session = environ["sessionserver.session"]   # a lazily loaded mutable mapping
        session["visits"] = session.get("visits", 0) + 1

The session loads on first use (a request that never touches it costs no round trip); at
``start_response`` only the keys the request changed are written back, the cookie is set (on a
change, as Starlette does, with the session's own seconds left on the server) or deleted, and
``Vary: Cookie`` is added when the session was accessed.  Changes made after the
response has started (while the body is being produced) are not saved.  Nothing is saved on a
5xx response.  ``session.regenerate()`` (login) and ``session.invalidate()`` (logout) do what
their names say.  Values are JSON, one per key, as in every other adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from werkzeug.http import parse_cookie
from werkzeug.wsgi import ClosingIterator

from sessionserver.backend import SessionBackend, valid_cookie
from sessionserver.client import DEFAULT_URL, SessionClient
from sessionserver.cookies import CookieSettings
from sessionserver.saving import prepare, set_cookie
from sessionserver.session import Session
from sessionserver.values import JSON, Serializer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["SessionMiddleware", "logout_everywhere"]


class SessionMiddleware:
    """WSGI middleware putting a server-side :class:`Session` in the environ.

    Args:
        app: the WSGI application.
        url: the daemon (``sessionserver://...``), unless ``client`` is given.
        client: a :class:`SessionClient` to share.
        session_cookie, max_age, path, domain, same_site, https_only, partitioned,
            httponly: the cookie, as in Starlette's middleware (``max_age`` None: a
            browser-session cookie; it is also the idle lifetime a new session gets).
            ``session.ttl = seconds`` gives one session its own lifetime on purpose (at or
            below zero: it ends now).
        lock: hold each session's write lock from its first read to the end of the request.
        environ_key: where the session goes in the environ.
        serializer: how values are encoded (JSON by default; keep it the same in every app
            that shares sessions).
    """

    def __init__(
        self,
        app: WSGIApplication,
        url: str = DEFAULT_URL,
        *,
        client: SessionClient | None = None,
        session_cookie: str = "session",
        max_age: int | None = 14 * 24 * 3600,
        path: str = "/",
        domain: str | None = None,
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        partitioned: bool = False,
        httponly: bool = True,
        lock: bool = False,
        environ_key: str = "sessionserver.session",
        serializer: Serializer = JSON,
    ) -> None:
        self.app = app
        self.client = client or SessionClient(url)
        self.backend = SessionBackend(self.client, lock=lock)
        self.cookie = CookieSettings(
            name=session_cookie,
            max_age=max_age,
            path=path,
            domain=domain,
            secure=https_only,
            httponly=httponly,
            samesite=same_site,
            partitioned=partitioned,
        )
        self.environ_key = environ_key
        self.serializer = serializer

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        cookies = parse_cookie(environ)
        name = self.cookie.name
        sid = valid_cookie(cookies.get(name))
        holder: dict[str, Any] = {}
        session = Session(sid, lambda s: self.backend.load(s, holder), self.serializer)
        environ[self.environ_key] = session
        environ["sessionserver.client"] = self.client
        saved = False

        def session_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            nonlocal saved
            if not saved:
                saved = True
                self._save(session, int(status.split(None, 1)[0]), name in cookies, headers, holder)
            return start_response(status, headers, exc_info)

        def release() -> None:
            if not saved:
                self.backend.release(holder)

        try:
            app_iter = self.app(environ, session_start_response)
        except BaseException:
            release()
            raise
        return ClosingIterator(app_iter, [release])

    def _save(
        self,
        session: Session,
        status: int,
        had_cookie: bool,
        headers: list[tuple[str, str]],
        holder: dict[str, Any],
    ) -> None:
        if not session.accessed and not session.loaded:
            return
        todo = prepare(session, status=status, had_cookie=had_cookie, max_age=self.cookie.max_age)
        if todo.plan.store == "none":
            self.backend.release(holder)
        saved = self.backend.save(
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
        if todo.plan.vary or header is not None:
            headers.append(("Vary", "Cookie"))
        if header is not None:
            headers.append(("Set-Cookie", header))


def logout_everywhere(
    environ: WSGIEnvironment,
    user_id: str | int,
    *,
    keep_current: bool = True,
    environ_key: str = "sessionserver.session",
) -> int:
    """Destroy every session of ``user_id`` (but the current one, unless
    ``keep_current=False``); how many.  The user is whoever the ``_user_id`` key names."""
    client: SessionClient = environ["sessionserver.client"]
    keep = environ[environ_key].sid if keep_current else None
    return client.destroy_user(user_id, keep)
