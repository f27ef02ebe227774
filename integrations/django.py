"""A Django session engine backed by the session server.

::

    SESSION_ENGINE = "sessionserver.integrations.django"
    SESSIONSERVER_URL = "sessionserver://127.0.0.1:9090"

Django's ``SessionMiddleware`` and ``django.contrib.auth`` work unchanged.  The store follows the
contract of Django's own backends: ``load`` never creates anything and forgets an unknown or
expired key (no fixation), ``create`` stores a new session under a server-issued key,
``save`` raises ``UpdateError`` when the session was deleted meanwhile (a concurrent logout; the
middleware turns it into ``SessionInterrupted``) instead of bringing it back, ``cycle_key`` (on
login) moves the data to a new key, and ``SESSION_COOKIE_AGE``/``set_expiry`` set the
server-side lifetime when a session is created or ``set_expiry`` changes it (a session keeps
its lifetime otherwise, whichever app touches it), and an expiry at or below zero ends the
session at once.  The ``a``-prefixed methods (Django 5.1+) use the async client natively.

Differences from the database backends, all in the direction of the server: each key is
stored as its own JSON value (the encoding every adapter shares, so a Flask or Starlette app
behind the same load balancer reads the same session), only the keys a request changed are
written, and ``clear_expired()`` has nothing to do: the server expires sessions itself.

The clients (one sync, one async, each with its pool) are created on first use and shared by
the process; pools reset themselves after a fork.  ``SESSIONSERVER_OPTIONS`` passes client
keyword arguments.  An unreachable server raises ``sessionserver.exceptions.ConnectError``
(naming the address), which Django answers with a 500.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.core.exceptions import ImproperlyConfigured

from sessionserver.client import AsyncSessionClient, SessionClient
from sessionserver.exceptions import SessionNotFound
from sessionserver.ids import is_valid_id
from sessionserver.values import BROWSER_COOKIE, BROWSER_COOKIE_PAIR, decode_all, diff, split_meta

__all__ = ["SessionStore", "alogout_everywhere", "logout_everywhere", "user_sessions"]

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


def _options() -> tuple[str, dict[str, Any]]:
    url = getattr(settings, "SESSIONSERVER_URL", None)
    if not url:
        raise ImproperlyConfigured(
            "SESSION_ENGINE is sessionserver.integrations.django but SESSIONSERVER_URL is not set "
            "(for example SESSIONSERVER_URL = 'sessionserver://127.0.0.1:9090')."
        )
    return url, dict(getattr(settings, "SESSIONSERVER_OPTIONS", {}))


def sync_client() -> SessionClient:
    """The process's sync client (created on first use; a changed setting makes a new one)."""
    url, options = _options()
    with _lock:
        client = _clients.get(("sync", url))
        if client is None:
            client = _clients[("sync", url)] = SessionClient(url, **options)
        return client


def async_client() -> AsyncSessionClient:
    """The process's async client (its pool follows the running event loop)."""
    url, options = _options()
    with _lock:
        client = _clients.get(("async", url))
        if client is None:
            client = _clients[("async", url)] = AsyncSessionClient(url, **options)
        return client


def _valid(key: str | None) -> bool:
    return bool(key) and is_valid_id(str(key).encode())


class SessionStore(SessionBase):
    """Django's ``SessionBase`` over the session server."""

    _session_key: Any  # SessionBase's validating property

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        # What is stored, as loaded or last saved: saving sends only the difference.
        self._stored: dict[str, bytes] = {}
        # What the server said of the loaded session: its seconds left, and whether its
        # cookie is a browser-session one (None: not loaded, or new).
        self._seconds_left: int | None = None
        self._browser: bool | None = None

    # -- the five storage methods, and their async twins ---------------------------------------

    def load(self) -> dict[str, Any]:
        key = self.session_key
        read = None
        if _valid(key):
            try:
                read = sync_client().read_with_ttl(key)
            except SessionNotFound:
                read = None
        return self._loaded(read)

    async def aload(self) -> dict[str, Any]:
        key = self.session_key
        read = None
        if _valid(key):
            try:
                read = await async_client().read_with_ttl(key)
            except SessionNotFound:
                read = None
        return self._loaded(read)

    def _loaded(self, read: tuple[int, dict[str, bytes]] | None) -> dict[str, Any]:
        if read is None:
            self._session_key = None  # never adopt a key the server does not know
            self._stored = {}
            return {}
        self._seconds_left, raw = read
        self._stored, self._browser = split_meta(raw)
        return decode_all(self._stored)

    # -- one lifetime and one cookie per session, whichever app made it ------------------------

    def get_session_cookie_age(self) -> int:
        """The session's own lifetime, as the server said when it was loaded (Django's
        ``SESSION_COOKIE_AGE`` for a new session): the cookie Django sends again expires with
        the session, not with this app's setting."""
        if self._seconds_left is not None:
            return self._seconds_left
        return super().get_session_cookie_age()  # type: ignore[no-any-return]

    def get_expire_at_browser_close(self) -> bool:
        """Django's rule, but a loaded session that ``set_expiry`` never touched keeps its own
        kind of cookie (a browser-session one if the app that made it said so)."""
        untouched = "_session_expiry" not in self._stored and self.get("_session_expiry") is None
        if self._browser is not None and untouched:
            return self._browser
        return super().get_expire_at_browser_close()  # type: ignore[no-any-return]

    def exists(self, session_key: str | None) -> bool:
        if session_key is None or not _valid(session_key):
            return False
        try:
            sync_client().expires(session_key)
        except SessionNotFound:
            return False
        return True

    async def aexists(self, session_key: str | None) -> bool:
        if session_key is None or not _valid(session_key):
            return False
        try:
            await async_client().expires(session_key)
        except SessionNotFound:
            return False
        return True

    def _new_pairs(self, data: dict[str, Any]) -> dict[str, bytes]:
        # A new key (cycle_key at login too) gets this app's lifetime and kind of cookie, as
        # Django's own backends give it, not what the old key had left.
        self._seconds_left = self._browser = None
        changed, _ = diff({}, data)
        if self.get_expire_at_browser_close():
            changed.update(BROWSER_COOKIE_PAIR)
        return changed

    def create(self) -> None:
        data = self._get_session(no_load=True)
        changed = self._new_pairs(data)
        ttl = self.get_expiry_age()
        # An expiry in the past ends the session at once: there is nothing to store.
        self._session_key = sync_client().create(changed, ttl=ttl) if ttl > 0 else None
        self._stored = split_meta(changed)[0] if ttl > 0 else {}
        self.modified = True

    async def acreate(self) -> None:
        data = await self._aget_session(no_load=True)
        changed = self._new_pairs(data)
        ttl = await self.aget_expiry_age()
        client = async_client()
        self._session_key = await client.create(changed, ttl=ttl) if ttl > 0 else None
        self._stored = split_meta(changed)[0] if ttl > 0 else {}
        self.modified = True

    def _changes(self, data: dict[str, Any], ttl: int) -> tuple[dict[str, bytes], list[str], Any]:
        """(changed, removed, the lifetime to send): one lifetime per session, so a save sends
        Django's only when ``set_expiry`` changed it in this request."""
        changed, removed = diff(self._stored, data)
        purposeful = "_session_expiry" in changed or "_session_expiry" in removed
        if purposeful:  # set_expiry gives the cookie its kind too
            browser = SessionBase.get_expire_at_browser_close(self)
            if browser and not self._browser:
                changed.update(BROWSER_COOKIE_PAIR)
            elif self._browser and not browser:
                removed.append(BROWSER_COOKIE)
        return changed, removed, ttl if purposeful else None

    def _saved(self, changed: dict[str, bytes], removed: list[str]) -> None:
        pairs, browser = split_meta(changed)
        self._stored = {**self._stored, **pairs}
        for key in removed:
            self._stored.pop(key, None)
        if browser or BROWSER_COOKIE in removed:
            self._browser = browser

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None or must_create:
            # The server issues keys: a key Django made up is never used.
            if must_create and self.session_key is not None:
                raise CreateError
            return self.create()
        data = self._get_session(no_load=False)
        age = self.get_expiry_age()
        if age <= 0:
            return self.delete()  # an expiry in the past ends the session at once
        changed, removed, ttl = self._changes(data, age)
        try:
            sync_client().write(self.session_key, changed, removed, ttl=ttl)
        except SessionNotFound:
            raise UpdateError from None
        self._saved(changed, removed)

    async def asave(self, must_create: bool = False) -> None:
        if self.session_key is None or must_create:
            if must_create and self.session_key is not None:
                raise CreateError
            return await self.acreate()
        data = await self._aget_session(no_load=False)
        age = await self.aget_expiry_age()
        if age <= 0:
            return await self.adelete()
        changed, removed, ttl = self._changes(data, age)
        try:
            await async_client().write(self.session_key, changed, removed, ttl=ttl)
        except SessionNotFound:
            raise UpdateError from None
        self._saved(changed, removed)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if _valid(key):
            sync_client().destroy(key)

    async def adelete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if _valid(key):
            await async_client().destroy(key)

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: the session server expires sessions itself."""

    @classmethod
    async def aclear_expired(cls) -> None:
        """Nothing to do: the session server expires sessions itself."""

    # -- keys the server issues are valid keys -------------------------------------------------

    def _validate_session_key(self, key: str | None) -> bool:
        return _valid(key)


def _user(user: Any) -> str:
    return str(getattr(user, "pk", user))


def user_sessions(user: Any) -> list[str]:
    """The keys of a user's sessions (a user object or its primary key)."""
    return sync_client().user_sessions(_user(user))


def logout_everywhere(user: Any, *, keep: str | None = None) -> int:
    """Destroy every session of ``user`` (a user object or its primary key) but ``keep`` (for
    example ``request.session.session_key``); how many.  Sessions are found by the
    ``_auth_user_id`` that ``django.contrib.auth`` writes."""
    return sync_client().destroy_user(_user(user), keep)


async def alogout_everywhere(user: Any, *, keep: str | None = None) -> int:
    """:func:`logout_everywhere` for async views."""
    return await async_client().destroy_user(_user(user), keep)
