"""The end of a request for the two middlewares (WSGI and ASGI), which follow Starlette's rules:
what to save with which lifetime, and which ``Set-Cookie`` to send once saved.  Only the I/O
between the two halves (a sync or an async backend) differs between them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .cookies import CookieSettings, SavePlan, cookie_header
from .session import Saved, Session
from .values import BROWSER_COOKIE_PAIR

__all__ = ["Prepared", "prepare", "set_cookie"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the backend's ``save`` is given."""

    plan: SavePlan
    changed: dict[str, bytes]
    removed: list[str]
    ttl: int | None
    fresh_ttl: int | None
    fresh: dict[str, bytes]
    blind: bool
    known_left: int | None


def prepare(session: Session, *, status: int, had_cookie: bool, max_age: int | None) -> Prepared:
    """The save of ``session`` (Starlette's rules: the cookie goes out again when the session
    changed; a ``max_age`` at or below zero ends it at once; None makes browser-session
    cookies, and the sessions made so say it)."""
    plan, changed, removed = session.plan(
        status=status,
        had_cookie=had_cookie,
        resend_on_change=True,
        expired=max_age is not None and max_age <= 0,
    )
    lifetime = max_age if max_age is not None and max_age > 0 else None
    marker = BROWSER_COOKIE_PAIR if max_age is None and session.ttl is None else {}
    if plan.store == "create":
        changed = {**changed, **marker}
    return Prepared(
        plan,
        changed,
        removed,
        session.lifetime_to_give(lifetime, plan),
        lifetime,
        {**changed, **marker},
        not session.loaded,
        session.seconds_left,
    )


def set_cookie(
    session: Session, saved: Saved, plan: SavePlan, settings: CookieSettings, *, had_cookie: bool
) -> str | None:
    """The ``Set-Cookie`` value once ``saved``, or None (see :func:`cookies.cookie_header`); a
    lifetime the app gave on purpose (``session.ttl``) is the cookie's too."""
    if session.ttl is not None and session.ttl > 0:
        settings = replace(settings, max_age=session.ttl)
    elif saved.sid == session.sid and session.browser_cookie is None:
        # A write without a read cannot tell which kind of cookie the session has: the
        # browser keeps the one it has (same id), rather than get the wrong kind.
        plan = replace(plan, cookie="none") if plan.cookie == "set" else plan
    return cookie_header(
        plan,
        settings,
        old_sid=session.sid,
        new_sid=saved.sid,
        had_cookie=had_cookie,
        seconds_left=session.left(saved),
        browser=session.browser_cookie,
    )
