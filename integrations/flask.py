"""Flask sessions kept in the session server.

::

    app.config["SESSIONSERVER_URL"] = "sessionserver://127.0.0.1:9090"
    sessionserver.integrations.flask.init_app(app)

The session cookie carries only the session id; the data stays on the server, one JSON value
per key (Flask's tagged JSON, so tuples, bytes, ``Markup``, ``UUID`` and ``datetime`` come back
as they went in).  Flask's own cookie settings apply exactly as its default interface applies
them: ``SESSION_COOKIE_NAME``, ``_DOMAIN``, ``_PATH``, ``_HTTPONLY``, ``_SECURE``, ``_SAMESITE``,
``_PARTITIONED``, ``PERMANENT_SESSION_LIFETIME`` (also the server-side lifetime) and
``SESSION_REFRESH_EACH_REQUEST``.

``open_session`` does no I/O: the session loads on first use, and a request that never touches
it costs no round trip.  Only the keys a request changed are written back.  Call
``session.regenerate()`` at login (a new id, the old one deleted) and ``session.invalidate()``
at logout; :func:`logout_everywhere` ends all of a user's sessions.
``SESSIONSERVER_LOCK = True`` makes each request hold the session's write lock from its first
read to the end (requests of one user then run one after the other).

When the session server cannot be reached, touching the session raises
``sessionserver.exceptions.ConnectError`` (naming the address), which the app can handle; the
session is never silently replaced by an empty one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flask
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin

from sessionserver.backend import SessionBackend, valid_cookie
from sessionserver.client import SessionClient
from sessionserver.cookies import plan_save
from sessionserver.session import Session

if TYPE_CHECKING:
    from flask import Flask, Request, Response

__all__ = [
    "FlaskSession",
    "SessionServerInterface",
    "init_app",
    "logout_everywhere",
    "user_sessions",
]


class FlaskSession(Session, SessionMixin):
    """A lazily loaded server-side session with Flask's ``permanent``."""

    # Session's instance attributes (accessed, new) and its ``modified`` property come first
    # in the MRO, ahead of SessionMixin's class-level defaults.

    def __init__(self, *args: Any, had_cookie: bool = False, **kwargs: Any) -> None:
        Session.__init__(self, *args, **kwargs)
        self.had_cookie = had_cookie
        self.holder: dict[str, Any] = {}


class SessionServerInterface(SessionInterface):
    """Flask's ``SessionInterface`` over the session server.

    Args:
        client: a :class:`SessionClient` (shared by all requests) or its URL.
        lock: hold each session's write lock for the whole request.
    """

    serializer = TaggedJSONSerializer()
    session_class = FlaskSession

    def __init__(self, client: SessionClient | str, *, lock: bool = False) -> None:
        self.client = client if isinstance(client, SessionClient) else SessionClient(client)
        self.backend = SessionBackend(self.client, lock=lock)

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        name = self.get_cookie_name(app)
        sid = valid_cookie(request.cookies.get(name))
        session = FlaskSession(sid, None, self.serializer, had_cookie=name in request.cookies)
        holder = session.holder
        session._loader = lambda s: self.backend.load(s, holder)
        return session

    def save_session(  # type: ignore[override]
        self, app: Flask, session: FlaskSession, response: Response
    ) -> None:
        if not session.accessed and not session.loaded:
            # Never touched: no round trip, no cookie, no Vary (not even for rolling expiry).
            return
        refresh = bool(session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"])
        changed, removed, modified = session.pending()
        plan = plan_save(
            status=response.status_code,
            accessed=session.accessed,
            new=session.new,
            had_cookie=session.had_cookie,
            modified=modified,
            empty=session.will_be_empty(),
            invalidated=session.invalidated,
            regenerate=session.regenerate_requested,
            refresh=refresh,
        )
        if plan.vary:
            response.vary.add("Cookie")
        if plan.store == "none":
            self.backend.release(session.holder)
        lifetime = int(app.permanent_session_lifetime.total_seconds())
        sid = self.backend.save(plan, session.sid, changed, removed, lifetime, session.holder)
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        secure = self.get_cookie_secure(app)
        partitioned = self.get_cookie_partitioned(app)
        samesite = self.get_cookie_samesite(app)
        httponly = self.get_cookie_httponly(app)
        if plan.cookie == "set" and sid is not None:
            response.set_cookie(
                name,
                sid,
                expires=self.get_expiration_time(app, session),
                httponly=httponly,
                domain=domain,
                path=path,
                secure=secure,
                partitioned=partitioned,
                samesite=samesite,
            )
            response.vary.add("Cookie")
        elif plan.cookie == "delete" or (plan.cookie == "set" and session.had_cookie):
            # deleted on purpose, or gone meanwhile (logged out elsewhere): drop the cookie
            response.delete_cookie(
                name,
                domain=domain,
                path=path,
                secure=secure,
                partitioned=partitioned,
                samesite=samesite,
                httponly=httponly,
            )
            response.vary.add("Cookie")


def init_app(app: Flask) -> SessionServerInterface:
    """Keep ``app``'s sessions in the session server.

    Reads ``SESSIONSERVER_URL`` (required), ``SESSIONSERVER_LOCK`` (default False) and
    ``SESSIONSERVER_OPTIONS`` (client keyword arguments) from ``app.config``.

    Raises:
        RuntimeError: ``SESSIONSERVER_URL`` is not set.
    """
    url = app.config.get("SESSIONSERVER_URL")
    if not url:
        raise RuntimeError(
            "Set SESSIONSERVER_URL (for example sessionserver://127.0.0.1:9090) in the app's "
            "config before calling sessionserver.integrations.flask.init_app(app)."
        )
    client = SessionClient(url, **app.config.get("SESSIONSERVER_OPTIONS", {}))
    interface = SessionServerInterface(client, lock=bool(app.config.get("SESSIONSERVER_LOCK")))
    app.session_interface = interface
    return interface


def _interface() -> SessionServerInterface:
    interface = flask.current_app.session_interface
    if not isinstance(interface, SessionServerInterface):
        raise RuntimeError("the app's sessions are not in the session server (call init_app)")
    return interface


def user_sessions(user_id: str | int) -> list[str]:
    """The ids of the user's sessions (those whose ``_user_id`` names the user)."""
    return _interface().client.user_sessions(user_id)


def logout_everywhere(user_id: str | int, *, keep_current: bool = True) -> int:
    """Destroy every session of ``user_id`` (but the current request's, unless
    ``keep_current=False``); how many.  The user is whoever ``session["_user_id"]`` names
    (Flask-Login's key; the server's ``--user-keys`` lists the keys it indexes)."""
    keep = flask.session.sid if keep_current else None  # type: ignore[attr-defined]
    return _interface().client.destroy_user(user_id, keep)
