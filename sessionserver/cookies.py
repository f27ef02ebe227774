"""What to do with a session at the end of a request: one pure decision for every adapter.

:func:`plan_save` takes the facts of the request (status, whether the session was accessed,
changed, emptied, is new, had a cookie...) and returns a :class:`SavePlan`: which storage
operation to run, what to do with the cookie, and whether to add ``Vary: Cookie``.  The rules
are Flask's and Starlette's, which agree, plus what a server-side store adds:

- ``Vary: Cookie`` when the session was accessed (read or written), and whenever the response
  sets or deletes the cookie; never otherwise.
- Nothing is saved and no cookie is set on a 5xx response.
- A new session is stored only if it holds something (an untouched or empty new session never
  creates a record); an existing one is rewritten only if something changed, and then only the
  keys that changed.
- A session emptied, invalidated (logout) or given a lifetime at or below zero (Django's
  ``set_expiry`` in the past, Starlette's ``max_age=0``) is destroyed on the server at once and
  its cookie deleted; ``regenerate`` moves the data to a new id.
- One lifetime per session: the cookie of an id that stays the same is sent again only when
  the host framework's rules send it (``resend``: Flask's on a change or a permanent
  session's refresh, Django's and Starlette's on a change, or a lifetime given on purpose),
  and then with the seconds the session has left on the server (:func:`cookie_max_age`),
  so that visiting another app never shortens the cookie the first one gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CookieSettings",
    "SavePlan",
    "cookie_after_save",
    "cookie_header",
    "cookie_max_age",
    "delete_cookie_header",
    "plan_save",
    "set_cookie_header",
]

Store = Literal["none", "create", "write", "destroy", "regenerate"]
CookieOp = Literal["none", "set", "delete"]


@dataclass(frozen=True, slots=True)
class SavePlan:
    store: Store
    cookie: CookieOp
    vary: bool


def plan_save(
    *,
    status: int,
    accessed: bool,
    new: bool,
    had_cookie: bool,
    modified: bool,
    empty: bool,
    invalidated: bool = False,
    regenerate: bool = False,
    expired: bool = False,
    resend: bool = False,
) -> SavePlan:
    """Decide (see the module docstring).

    Args:
        status: the response status.
        accessed: the application read or wrote the session.
        new: no stored session backs it (no cookie, or an unknown or expired id).
        had_cookie: the request carried the session cookie.
        modified: saving would change something.
        empty: nothing is left in the session after the request's changes.
        invalidated: the application asked for the session to be destroyed (logout).
        regenerate: the application asked for a new id (login).
        expired: the session's lifetime is at or below zero: it ends now.
        resend: the adapter gave the session its lifetime in this request, so the cookie of
            an unchanged id may be sent again with it.
    """
    if status >= 500:
        return SavePlan("none", "none", accessed)
    if invalidated or (modified and (empty or expired)):
        cookie: CookieOp = "delete" if had_cookie or (expired and not empty) else "none"
        return SavePlan("none" if new else "destroy", cookie, accessed or cookie != "none")
    if empty:
        return SavePlan("none", "none", accessed)
    if new:
        if modified:
            return SavePlan("create", "set", True)
        return SavePlan("none", "none", accessed)
    if regenerate:
        return SavePlan("regenerate", "set", True)
    cookie = "set" if resend else "none"
    return SavePlan("write" if modified else "none", cookie, accessed or resend)


def cookie_after_save(
    plan: SavePlan, *, old_sid: str | None, new_sid: str | None, had_cookie: bool
) -> CookieOp:
    """The cookie to send once the save has run: set when the plan says so or the id changed
    (a new session, a new id, a fresh session after a stale cookie); deleted when the plan
    says so, or when the session went away meanwhile (logged out elsewhere)."""
    if new_sid is not None and (plan.cookie == "set" or new_sid != old_sid):
        return "set"
    if plan.cookie == "delete" or (new_sid is None and had_cookie and plan.store != "none"):
        return "delete"
    return "none"


def cookie_max_age(
    configured: int | None,
    *,
    id_changed: bool,
    seconds_left: int | None,
    browser: bool | None,
) -> int | None:
    """The ``Max-Age`` of a cookie being set (None: a browser-session cookie).  A new id gets
    the lifetime it was given (the app's ``configured`` one).  The cookie of an id that stays
    is the session's, whichever app sends it: a browser-session one if the session is marked
    so (``browser``), else it expires with the session on the server (``seconds_left``),
    never with the sending app's own setting; unknown (a write without a read), it is the
    seconds left: never shorter."""
    if id_changed:
        return configured
    if browser:
        return None
    return seconds_left if seconds_left is not None else configured


@dataclass(frozen=True, slots=True)
class CookieSettings:
    """The session cookie's attributes (each adapter fills them from its framework's own
    settings).  ``max_age`` None makes a browser-session cookie."""

    name: str = "session"
    max_age: int | None = 14 * 24 * 3600
    path: str = "/"
    domain: str | None = None
    secure: bool = False
    httponly: bool = True
    samesite: Literal["lax", "strict", "none"] | None = "lax"
    partitioned: bool = False


def _attributes(settings: CookieSettings) -> str:
    parts = [f"path={settings.path}"]
    if settings.domain:
        parts.append(f"domain={settings.domain}")
    if settings.httponly:
        parts.append("httponly")
    if settings.samesite:
        parts.append(f"samesite={settings.samesite}")
    if settings.secure:
        parts.append("secure")
    if settings.partitioned:
        parts.append("partitioned")
    return "; ".join(parts)


def set_cookie_header(settings: CookieSettings, sid: str) -> str:
    """A ``Set-Cookie`` value in Starlette's spelling (``Max-Age``)."""
    return _set_cookie(settings, sid, settings.max_age)


def _set_cookie(settings: CookieSettings, sid: str, max_age: int | None) -> str:
    age = f"; Max-Age={max_age}" if max_age is not None else ""
    return f"{settings.name}={sid}{age}; {_attributes(settings)}"


def delete_cookie_header(settings: CookieSettings) -> str:
    return (
        f"{settings.name}=null; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; "
        f"{_attributes(settings)}"
    )


def cookie_header(
    plan: SavePlan,
    settings: CookieSettings,
    *,
    old_sid: str | None,
    new_sid: str | None,
    had_cookie: bool,
    seconds_left: int | None,
    browser: bool | None,
) -> str | None:
    """The ``Set-Cookie`` value to send once the save has run (see :func:`cookie_after_save`
    and :func:`cookie_max_age`), or None."""
    op = cookie_after_save(plan, old_sid=old_sid, new_sid=new_sid, had_cookie=had_cookie)
    if op == "set":
        assert new_sid is not None
        max_age = cookie_max_age(
            settings.max_age,
            id_changed=new_sid != old_sid,
            seconds_left=seconds_left,
            browser=browser,
        )
        return _set_cookie(settings, new_sid, max_age)
    if op == "delete":
        return delete_cookie_header(settings)
    return None
