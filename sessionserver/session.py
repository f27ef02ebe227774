"""The framework-neutral session every sync adapter hands to the application.

:class:`Session` is a mutable mapping that loads its data the first time it is read (a request
that never touches the session costs no round trip), decodes each value on first access, and at
the end of the request knows exactly which keys changed or went: only those are written back,
so two concurrent requests of one user that change different keys both keep their changes, and
an unchanged session is never rewritten.  Values are compared by their encoding at save time,
so a change inside a value (``session["cart"].append(x)``) is saved too.  Setting a key does not
load the session: a request that only writes costs one round trip.

Every value is stored as its own JSON document (compact, UTF-8): the one encoding all four
adapters share, so that apps on different frameworks read each other's sessions, and a PHP page
reading the same keys over the text protocol sees JSON.  Never pickle.  A value that is not
JSON (a PHP page's ``put note plain text``) reads as its text (a ``str``, undecodable bytes
replaced), and stays as it is on the server unless the application sets that key.

Django's engine keeps its own dict and uses :func:`decode_all` and :func:`diff`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, NamedTuple, Protocol

from .cookies import SavePlan, plan_save

__all__ = [
    "JSON",
    "Plan",
    "Serializer",
    "Session",
    "decode",
    "decode_all",
    "diff",
    "encode_change",
]


class Serializer(Protocol):
    def dumps(self, value: Any) -> str: ...

    def loads(self, text: str) -> Any: ...


class _Json:
    """Compact JSON, UTF-8, no NaN: what every adapter stores a value as by default."""

    def dumps(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def loads(self, text: str) -> Any:
        return json.loads(text)


JSON: Serializer = _Json()

_MISSING: Any = object()

Loader = Callable[[str], "dict[str, bytes] | None"]


class Plan(NamedTuple):
    """A save plan with the changes it sends."""

    plan: SavePlan
    changed: dict[str, bytes]
    removed: list[str]


def decode(stored: bytes, serializer: Serializer = JSON) -> Any:
    """One stored value: its JSON, or its text when it is not JSON (written by a PHP page)."""
    text = stored.decode("utf-8", "replace")
    try:
        return serializer.loads(text)
    except ValueError:
        return text


def decode_all(raw: Mapping[str, bytes], serializer: Serializer = JSON) -> dict[str, Any]:
    """Every stored value decoded (see :func:`decode`)."""
    return {key: decode(value, serializer) for key, value in raw.items()}


def encode_change(stored: bytes | None, value: Any, serializer: Serializer = JSON) -> bytes | None:
    """``value`` encoded, or None when it is what is stored already (a text that is not JSON
    and was read back unchanged included: it is never rewritten as JSON)."""
    encoded = serializer.dumps(value).encode()
    if stored is None or stored == encoded:
        return None if stored == encoded else encoded
    if isinstance(value, str) and stored.decode("utf-8", "replace") == value:
        try:
            serializer.loads(stored.decode("utf-8", "replace"))
        except ValueError:
            return None  # the text of a value that is not JSON, unchanged
    return encoded


def diff(
    raw: Mapping[str, bytes], data: Mapping[str, Any], serializer: Serializer = JSON
) -> tuple[dict[str, bytes], list[str]]:
    """What to write so that the stored ``raw`` becomes ``data``: (changed, removed)."""
    changed: dict[str, bytes] = {}
    for key, value in data.items():
        encoded = encode_change(raw.get(key), value, serializer)
        if encoded is not None:
            changed[key] = encoded
    removed = [key for key in raw if key not in data]
    return changed, removed


class Session(MutableMapping[str, Any]):
    """A lazily loaded session.

    Attributes:
        sid: the session id, or None for a session not stored yet (no cookie, or an unknown
            or expired id: never adopted).
        new: True until the session has been stored.
        accessed: any read or write happened (adapters then add ``Vary: Cookie``).
        assigned: a key was set or deleted (even to the value it had).
        ttl: an idle lifetime in seconds given on purpose in this request: it is sent with
            the save and the cookie is sent again with it (None: the session keeps the
            lifetime it has; at or below zero: it ends now).
    """

    def __init__(
        self, sid: str | None, loader: Loader | None = None, serializer: Serializer = JSON
    ) -> None:
        self.sid = sid
        self.new = sid is None
        self.accessed = False
        self.assigned = False
        self.ttl: int | None = None
        self._loader = loader
        self._serializer = serializer
        self._raw: dict[str, bytes] | None = None if sid is not None else {}
        self._values: dict[str, Any] = {}  # decoded or assigned values
        self._deleted: set[str] = set()
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

    def set_loaded(self, raw: dict[str, bytes] | None) -> None:
        """Install data fetched elsewhere.  None means the id is unknown or expired: the
        session starts empty and new (the id is never adopted)."""
        if raw is None:
            self.sid = None
            self.new = True
            raw = {}
        self._raw = raw

    def _keys(self) -> list[str]:
        raw = self._raw if self._raw is not None else {}
        keys = [k for k in raw if k not in self._deleted]
        keys.extend(k for k in self._values if k not in raw)
        return keys

    # -- the mapping ----------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self._get(key)

    def peek(self, key: str, default: Any = None) -> Any:
        """``get`` for the adapter's own use: loads, but is not an access of the app's."""
        try:
            return self._get(key)
        except KeyError:
            return default

    def _get(self, key: str) -> Any:
        value = self._values.get(key, _MISSING)
        if value is not _MISSING:
            return value
        self.load()
        assert self._raw is not None
        if key in self._deleted or key not in self._raw:
            raise KeyError(key)
        value = self._values[key] = decode(self._raw[key], self._serializer)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = True
        self.assigned = True
        self._values[key] = value
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        self.accessed = True
        self.assigned = True
        self.load()
        assert self._raw is not None
        present = key in self._values or (key in self._raw and key not in self._deleted)
        if not present:
            raise KeyError(key)
        self._values.pop(key, None)
        self._deleted.add(key)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        if key in self._values:
            return True
        self.load()
        assert self._raw is not None
        return key in self._raw and key not in self._deleted

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        self.load()
        return iter(self._keys())

    def __len__(self) -> int:
        self.accessed = True
        self.load()
        return len(self._keys())

    def __repr__(self) -> str:
        if not self.loaded:
            return f"<Session {(self.sid or '')[:8]}... (not loaded)>"
        return f"<Session {(self.sid or '')[:8]}... {dict(self)!r}>"

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    # -- what the adapters ask at the end of a request ------------------------------------------

    def invalidate(self) -> None:
        """Destroy the stored session when saving (logout); the data is cleared now."""
        self.accessed = True
        self._invalidated = True
        self._values.clear()
        self._deleted.clear()
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
        """(keys set or changed, with their encoded values; keys removed) since the load."""
        raw = self._raw if self._raw is not None else {}
        changed: dict[str, bytes] = {}
        for key, value in self._values.items():
            encoded = encode_change(raw.get(key), value, self._serializer)
            if encoded is not None:
                changed[key] = encoded
        removed = [key for key in self._deleted if self._raw is None or key in raw]
        return changed, removed

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
        """Whether the session holds nothing after the changes (loads it only if that is the
        only way to know: a request that sets a key needs no load)."""
        if self._values:
            return False
        self.load()
        return not self._keys()

    def plan(self, *, status: int, had_cookie: bool, resend: bool = False) -> Plan:
        """What a save would do (see :func:`cookies.plan_save`), with the changes to send;
        ``resend`` as there, and a :attr:`ttl` given on purpose counts as one."""
        empty = self.will_be_empty()  # first: it may find the id gone, making the session new
        changed, removed, modified = self.pending()
        expired = self.ttl is not None and self.ttl <= 0
        plan = plan_save(
            status=status,
            accessed=self.accessed,
            new=self.new,
            had_cookie=had_cookie,
            modified=modified or (expired and not self.new),
            empty=empty,
            invalidated=self._invalidated,
            regenerate=self.regenerate_requested,
            expired=expired,
            resend=resend or self.ttl is not None,
        )
        return Plan(plan, changed, removed)
