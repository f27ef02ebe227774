"""What to do with a session at the end of a request: one pure decision for every adapter.

:func:`plan_save` takes the facts of the request (status, whether the session was accessed,
changed, emptied, is new, had a cookie...) and returns a :class:`SavePlan`: which storage
operation to run, what to do with the cookie, and whether to add ``Vary: Cookie``.  The rules
are Flask's and Starlette's, which agree, plus what a server-side store adds:

- ``Vary: Cookie`` exactly when the session was accessed (read or written).
- Nothing is saved and no cookie is set on a 5xx response.
- A new session is stored only if it holds something (an untouched or empty new session never
  creates a record); an existing one is rewritten only if something changed, and then only the
  keys that changed.
- A session emptied, or invalidated (logout), is destroyed on the server and its cookie
  deleted; ``regenerate`` moves the data to a new id.
- With rolling expiry (``refresh``), an unchanged session has its lifetime refreshed without
  its data being rewritten, and its cookie re-sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CookieSettings", "SavePlan", "delete_cookie_header", "plan_save", "set_cookie_header"]

Store = Literal["none", "create", "write", "touch", "destroy", "regenerate"]
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
    refresh: bool = False,
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
        refresh: rolling expiry: refresh the lifetime and re-send the cookie even if unchanged.
    """
    vary = accessed
    if status >= 500:
        return SavePlan("none", "none", vary)
    if invalidated or (empty and modified):
        return SavePlan("none" if new else "destroy", "delete" if had_cookie else "none", vary)
    if empty:
        return SavePlan("none", "none", vary)
    if new:
        return SavePlan("create" if modified else "none", "set" if modified else "none", vary)
    if regenerate:
        return SavePlan("regenerate", "set", vary)
    if modified:
        return SavePlan("write", "set", vary)
    if refresh:
        return SavePlan("touch", "set", vary)
    return SavePlan("none", "none", vary)


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
    max_age = f"; Max-Age={settings.max_age}" if settings.max_age is not None else ""
    return f"{settings.name}={sid}{max_age}; {_attributes(settings)}"


def delete_cookie_header(settings: CookieSettings) -> str:
    return (
        f"{settings.name}=null; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; "
        f"{_attributes(settings)}"
    )
