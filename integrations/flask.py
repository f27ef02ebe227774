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
it costs no round trip (but with ``SESSION_REFRESH_EACH_REQUEST``, Flask's default, a request
with a cookie reads the session, since Flask sends a permanent session's cookie on every
request).  Only the keys a request changed are written back.  A cookie sent again carries the
session's own seconds left on the server, and a non-permanent session's cookie is a
browser-session one in every app (see the README's "one lifetime, one cookie policy").  Call
``session.regenerate()`` at login (a new id, the old one deleted) and ``session.invalidate()``
at logout; :func:`logout_everywhere` ends all of a user's sessions.
``SESSIONSERVER_LOCK = True`` makes each request hold the session's write lock from its first
read to the end (requests of one user then run one after the other).

When the session server cannot be reached, touching the session raises
``sessionserver.exceptions.ConnectError`` (naming the address), which the app can handle; the
session is never silently replaced by an empty one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import flask
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.http import dump_cookie

from sessionserver.backend import SessionBackend, valid_cookie
from sessionserver.client import SessionClient
from sessionserver.cookies import cookie_after_save
from sessionserver.session import Session
from sessionserver.values import BROWSER_COOKIE, BROWSER_COOKIE_PAIR

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

    @property
    def permanent(self) -> bool:
        # Read without counting as the app's access (no Vary: Cookie for the adapter's look).
        return bool(self.peek("_permanent", False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self["_permanent"] = bool(value)

    def permanent_changed(self) -> bool:
        """``session.permanent`` was set to a new value in this request."""
        return self.key_changed("_permanent")

    def cookie_kind(self) -> bool | None:
        """True for a permanent session, False for a browser-session one (Flask's
        non-permanent sessions, marked so on the server), None for one another app made with
        a persistent cookie (it keeps it).  Unless the request set ``session.permanent``,
        knowing takes the session: this loads it."""
        if not self.new and not dict.__contains__(self, "_permanent"):
            self.load()  # an id found gone makes the session new: Flask's default
        if dict.__contains__(self, "_permanent"):
            return bool(dict.get(self, "_permanent"))
        return False if self.new or self.browser_cookie else None


class SessionServerInterface(SessionInterface):
    """Flask's ``SessionInterface`` over the session server.

    Like Flask's own, it needs ``app.secret_key`` (without one, the session is Flask's null
    session, which refuses writes), although nothing is signed: the cookie carries a random
    128-bit id.

    Args:
        client: a :class:`SessionClient` (shared by all requests) or its URL.
        lock: hold each session's write lock for the whole request.
    """

    serializer = TaggedJSONSerializer()
    session_class = FlaskSession

    def __init__(self, client: SessionClient | str, *, lock: bool = False) -> None:
        self.client = client if isinstance(client, SessionClient) else SessionClient(client)
        self.backend = SessionBackend(self.client, lock=lock)

    def open_session(self, app: Flask, request: Request) -> FlaskSession | None:
        if not app.secret_key:
            return None
        name = self.get_cookie_name(app)
        sid = valid_cookie(request.cookies.get(name))
        session = FlaskSession(sid, None, self.serializer, had_cookie=name in request.cookies)
        holder = session.holder
        session._loader = lambda s: self.backend.load(s, holder)
        return session

    def save_session(  # type: ignore[override]
        self, app: Flask, session: FlaskSession, response: Response
    ) -> None:
        refresh_each = app.config["SESSION_REFRESH_EACH_REQUEST"]
        if not session.accessed and not session.loaded and not (refresh_each and session.sid):
            # Never touched: no round trip, no cookie, no Vary.
            self.backend.release(session.holder)
            return
        # Flask sends the cookie again when the app set a key, and on every request for a
        # permanent session; which cookie (permanent or not) takes knowing the session, so an
        # untouched request (with SESSION_REFRESH_EACH_REQUEST) or one that only set keys
        # reads it, unless it set ``session.permanent``.  The server keeps one lifetime per
        # session: a save sends Flask's only when it gives one on purpose (a new session, a
        # change of ``session.permanent``, a new id).
        kind = session.cookie_kind()
        lifetime = int(app.permanent_session_lifetime.total_seconds())
        purposeful = session.permanent_changed() and not session.new
        resend = purposeful or session.assigned or (kind is True and refresh_each)
        plan, changed, removed = session.plan(
            status=response.status_code, had_cookie=session.had_cookie, resend=resend
        )
        if plan.vary:
            response.vary.add("Cookie")
        if plan.store == "none":
            self.backend.release(session.holder)
        # The session says on the server whether its cookie is a browser-session one, so
        # that any app sending it again sends the same kind.
        if kind is False and (plan.store == "create" or purposeful):
            changed = {**changed, **BROWSER_COOKIE_PAIR}
        elif purposeful and session.browser_cookie is not False:
            removed = [*removed, BROWSER_COOKIE]  # (not there: the write ignores it)
        fresh = changed if dict.get(session, "_permanent") else {**changed, **BROWSER_COOKIE_PAIR}
        ttl = lifetime if session.new or purposeful or plan.store == "regenerate" else None
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        secure = self.get_cookie_secure(app)
        partitioned = self.get_cookie_partitioned(app)
        samesite = self.get_cookie_samesite(app)
        httponly = self.get_cookie_httponly(app)
        if plan.cookie == "set":
            dump_cookie(name, "", samesite=samesite)  # a bad setting fails before any save
        saved = self.backend.save(
            plan,
            session.sid,
            changed,
            removed,
            ttl,
            session.holder,
            fresh_ttl=lifetime,
            fresh=fresh,
            blind=not session.loaded,
            known_left=session.seconds_left,
        )
        op = cookie_after_save(
            plan, old_sid=session.sid, new_sid=saved.sid, had_cookie=session.had_cookie
        )
        if op == "set":
            assert saved.sid is not None
            if saved.sid != session.sid and kind is None and plan.store != "regenerate":
                kind = False  # a fresh session after a stale cookie: Flask's default
            response.set_cookie(
                name,
                saved.sid,
                expires=self._expires(
                    kind, saved.sid != session.sid or purposeful, lifetime, session.left(saved)
                ),
                httponly=httponly,
                domain=domain,
                path=path,
                secure=secure,
                partitioned=partitioned,
                samesite=samesite,
            )
            response.vary.add("Cookie")
        elif op == "delete":
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

    @staticmethod
    def _expires(
        kind: bool | None, given: bool, lifetime: int, seconds_left: int | None
    ) -> datetime | None:
        """Flask's expiry (None: a browser-session cookie), but one lifetime per session: the
        cookie of an id that stays, when no lifetime was given on purpose, expires with the
        session on the server."""
        if kind is False:
            return None
        seconds = lifetime if given or seconds_left is None else seconds_left
        return datetime.now(UTC) + timedelta(seconds=seconds)


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
