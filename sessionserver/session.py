"""The framework-neutral session every adapter hands to the application.

:class:`Session` is a ``dict`` (so ``json.dumps``, ``dict(session)`` and C serializers take it
as one) that loads its data the first time it is read: a request that never touches the
session costs no round trip, and setting a key does not load it either, so a request that
only writes costs one round trip.  At the end of the request it knows exactly which keys
changed or went: only those are written back, so two concurrent requests of one user that
change different keys both keep their changes, and an unchanged session is never rewritten.
Values are compared by their encoding at save time, so a change inside a value
(``session["cart"].append(x)``) is saved too.  Once loaded, the dict itself holds the data.

Values are stored as :mod:`sessionserver.values` says (one JSON document per key, the
encoding every adapter shares), and the key that marks a browser-session cookie stays out of
the app's view.  Django's engine keeps its own dict and uses that module's functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from .cookies import SavePlan, plan_save
from .values import JSON, Serializer, decode_all, diff, encode_change, split_meta

__all__ = ["Plan", "Saved", "Session", "Stored"]


class Stored(NamedTuple):
    """A session as the server has it: its pairs, and the seconds it has left right after
    this access (its idle lifetime; None when the load did not ask)."""

    raw: dict[str, bytes]
    seconds_left: int | None = None


class Saved(NamedTuple):
    """What a save left: the id the cookie should carry (None: delete it), and the seconds
    the session has left when known (None: not asked, or no lifetime was given)."""

    sid: str | None
    seconds_left: int | None = None


Loader = Callable[[str], "Stored | None"]


class Plan(NamedTuple):
    """A save plan with the changes it sends."""

    plan: SavePlan
    changed: dict[str, bytes]
    removed: list[str]


_get = dict.get
_contains = dict.__contains__


class _Unloaded:
    """The one key an unloaded session's dict holds besides the keys set before the load:
    ``json.dumps`` (and C serializers) skip ``items()`` for a dict whose own size is zero, so
    the dict of a session that may hold data is never empty until it is loaded."""

    def __repr__(self) -> str:
        return "<not loaded>"


_UNLOADED: Any = _Unloaded()


class Session(dict[str, Any]):
    """A lazily loaded session.

    Reading methods load first; ``__setitem__``, ``update`` and ``|=`` do not (a key set
    before the load wins over the stored one).  Every method counts as an access.

    Attributes:
        sid: the session id, or None for a session not stored yet (no cookie, or an unknown
            or expired id: never adopted).
        new: True until the session has been stored.
        accessed: any read or write happened (adapters then add ``Vary: Cookie``).
        assigned: a key was set or deleted (even to the value it had).
        ttl: an idle lifetime in seconds given on purpose in this request: it is sent with
            the save and the cookie is sent again with it (None: the session keeps the
            lifetime it has; at or below zero: it ends now).
        seconds_left: what the server last said the session has left (None: not asked).
        browser_cookie: whether the stored session's cookie is a browser-session one (None:
            not loaded, or new).
    """

    def __init__(
        self, sid: str | None, loader: Loader | None = None, serializer: Serializer = JSON
    ) -> None:
        super().__init__()
        self.sid = sid
        self.new = sid is None
        self.accessed = False
        self.assigned = False
        self.ttl: int | None = None
        self.seconds_left: int | None = None
        self.browser_cookie: bool | None = None
        self._loader = loader
        self._serializer = serializer
        self._raw: dict[str, bytes] | None = None if sid is not None else {}
        if sid is not None:
            super().__setitem__(_UNLOADED, None)
        self._invalidated = False
        self._regenerate = False

    # -- loading --------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._raw is not None

    def load(self) -> None:
        """Fetch the data now (a no-op once loaded)."""
        if self._raw is None:
            assert self.sid is not None and self._loader is not None
            self.set_loaded(self._loader(self.sid))

    def set_loaded(self, stored: Stored | None) -> None:
        """Install data fetched elsewhere.  None means the id is unknown or expired: the
        session starts empty and new (the id is never adopted)."""
        if stored is None:
            self.sid = None
            self.new = True
            stored = Stored({})
        written = self._own()  # keys set before the load win
        raw, browser = split_meta(stored.raw)
        super().clear()
        super().update(decode_all(raw, self._serializer))
        super().update(written)
        self._raw = raw
        self.seconds_left = stored.seconds_left
        self.browser_cookie = None if self.new else browser

    def _own(self) -> dict[str, Any]:
        """The dict's own pairs: all of them once loaded, before that the keys set."""
        pairs = dict(super().items())
        pairs.pop(_UNLOADED, None)
        return pairs

    # -- the mapping: reads load first ------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        if self._raw is None and not _contains(self, key):
            self.load()
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        if self._raw is None and not _contains(self, key):
            self.load()
        return _get(self, key, default)

    def peek(self, key: str, default: Any = None) -> Any:
        """``get`` for the adapter's own use: loads, but is not an access of the app's."""
        if self._raw is None and not _contains(self, key):
            self.load()
        return _get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        if self._raw is None and not _contains(self, key):
            self.load()
        return _contains(self, key)

    def _read(self) -> None:
        self.accessed = True
        self.load()

    def __iter__(self) -> Iterator[str]:
        self._read()
        return super().__iter__()

    def __reversed__(self) -> Iterator[str]:
        self._read()
        return super().__reversed__()

    def __len__(self) -> int:
        self._read()
        return super().__len__()

    def keys(self) -> Any:
        self._read()
        return super().keys()

    def values(self) -> Any:
        self._read()
        return super().values()

    def items(self) -> Any:
        self._read()
        return super().items()

    def copy(self) -> dict[str, Any]:
        self._read()
        return dict(super().items())

    def __eq__(self, other: object) -> bool:
        self._read()
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        merged = dict(other)
        merged.update(self.copy())
        return merged

    def __repr__(self) -> str:
        if self._raw is None:
            return f"<{type(self).__name__} {(self.sid or '')[:8]}... (not loaded)>"
        return f"<{type(self).__name__} {(self.sid or '')[:8]}... {self._own()!r}>"

    # -- the mapping: writes -----------------------------------------------------------------------

    def _write(self) -> None:
        self.accessed = True
        self.assigned = True

    def __setitem__(self, key: str, value: Any) -> None:
        self._write()
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._write()
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override]
        self.update(other)
        return self

    def __delitem__(self, key: str) -> None:
        self._read()
        super().__delitem__(key)
        self.assigned = True

    def pop(self, key: str, *default: Any) -> Any:
        self._read()
        if _contains(self, key):
            self.assigned = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self._read()
        item = super().popitem()
        self.assigned = True
        return item

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._read()
        if not _contains(self, key):
            self._write()
        return super().setdefault(key, default)

    def clear(self) -> None:
        self._read()
        self.assigned = True
        super().clear()

    # Starlette's names (its ``request.session`` calls ``mark_accessed``).
    def mark_accessed(self) -> None:
        self.accessed = True

    def mark_modified(self) -> None:
        self._write()

    # -- what the adapters ask at the end of a request ------------------------------------------

    def invalidate(self) -> None:
        """Destroy the stored session when saving (logout); the data is cleared now."""
        self._write()
        self._invalidated = True
        super().clear()
        self._raw = {}

    def regenerate(self) -> None:
        """Move the data to a new id when saving and delete the old id (call it at login:
        this is what stops session fixation)."""
        self.accessed = True
        self._regenerate = True

    @property
    def invalidated(self) -> bool:
        return self._invalidated

    @property
    def regenerate_requested(self) -> bool:
        return self._regenerate and not self.new

    def changes(self) -> tuple[dict[str, bytes], list[str]]:
        """(keys set or changed, with their encoded values; keys removed) since the load
        (before one: the keys set, none removed)."""
        return diff(self._raw if self._raw is not None else {}, self._own(), self._serializer)

    def key_changed(self, key: str) -> bool:
        """Whether ``key`` was set to a new value or removed since the load: one key of
        :meth:`changes`, without encoding the others."""
        raw = self._raw if self._raw is not None else {}
        if not _contains(self, key):
            return key in raw
        return encode_change(raw.get(key), _get(self, key), self._serializer) is not None

    def pending(self) -> tuple[dict[str, bytes], list[str], bool]:
        """:meth:`changes` and :attr:`modified` in one pass: what a save would send."""
        changed, removed = self.changes()
        modified = self._invalidated or self.regenerate_requested or bool(changed or removed)
        return changed, removed, modified

    @property
    def modified(self) -> bool:
        """Whether saving would change anything.  Setting it (Flask's habit after changing a
        value in place) is accepted and changes nothing: in-place changes are found anyway."""
        return self.pending()[2]

    @modified.setter
    def modified(self, value: bool) -> None:
        self.accessed = self.accessed or bool(value)

    def will_be_empty(self) -> bool:
        """Whether the session holds nothing after the changes.  It loads only if that is
        the only way to know and it matters: a session set keys on needs no load, nor one
        that was not read or written (its stored data stays as it is)."""
        if self._own():
            return False
        if self._raw is None and not self.assigned:
            return False
        self.load()
        return not super().__len__()

    def lifetime_to_give(self, default: int | None, plan: SavePlan) -> int | None:
        """The idle lifetime a save sends: :attr:`ttl` when the app gave one on purpose,
        ``default`` (the app's setting) for a new session or a new id, else None (one
        lifetime per session: it keeps the one it has)."""
        if self.ttl is not None:
            return self.ttl
        return default if self.new or plan.store == "regenerate" else None

    def left(self, saved: Saved) -> int | None:
        """The seconds the session has left, as the save or else the load last learned."""
        return saved.seconds_left if saved.seconds_left is not None else self.seconds_left

    def plan(
        self,
        *,
        status: int,
        had_cookie: bool,
        resend: bool = False,
        resend_on_change: bool = False,
        expired: bool = False,
    ) -> Plan:
        """What a save would do (see :func:`cookies.plan_save`), with the changes to send;
        ``resend`` and ``expired`` as there (a :attr:`ttl` given on purpose counts as a
        resend, and ends the session at once when at or below zero, changed or not), and
        ``resend_on_change`` makes a change count as a resend (Starlette's and Django's
        rule)."""
        empty = self.will_be_empty()  # first: it may find the id gone, making the session new
        changed, removed, modified = self.pending()
        resend = resend or (resend_on_change and modified)
        ends_now = self.ttl is not None and self.ttl <= 0
        expired = expired or ends_now
        plan = plan_save(
            status=status,
            accessed=self.accessed,
            new=self.new,
            had_cookie=had_cookie,
            modified=modified or (ends_now and not self.new),
            empty=empty,
            invalidated=self._invalidated,
            regenerate=self.regenerate_requested,
            expired=expired,
            resend=resend or self.ttl is not None,
        )
        return Plan(plan, changed, removed)
