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
reading the same keys over the text protocol sees JSON.  Never pickle.

The ASGI middleware cannot load lazily (``request.session`` is synchronous and I/O there is
async), so it loads before the app runs, hands Starlette a plain dict, and uses :func:`diff`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Protocol

__all__ = ["JSON", "Serializer", "Session", "decode_all", "diff"]


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


def decode_all(raw: Mapping[str, bytes], serializer: Serializer = JSON) -> dict[str, Any]:
    """Every stored value decoded; a value that is not valid JSON is left out (and will be
    overwritten only if the application sets that key)."""
    data: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            data[key] = serializer.loads(value.decode())
        except ValueError:
            continue
    return data


def diff(
    raw: Mapping[str, bytes], data: Mapping[str, Any], serializer: Serializer = JSON
) -> tuple[dict[str, bytes], list[str]]:
    """What to write so that the stored ``raw`` becomes ``data``: (changed, removed)."""
    changed: dict[str, bytes] = {}
    dumps = serializer.dumps
    for key, value in data.items():
        encoded = dumps(value).encode()
        if raw.get(key) != encoded:
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
        ttl: the idle lifetime to give the session when it is saved (None: keep it).
    """

    def __init__(
        self, sid: str | None, loader: Loader | None = None, serializer: Serializer = JSON
    ) -> None:
        self.sid = sid
        self.new = sid is None
        self.accessed = False
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
        value = self._values.get(key, _MISSING)
        if value is not _MISSING:
            return value
        self.load()
        assert self._raw is not None
        if key in self._deleted or key not in self._raw:
            raise KeyError(key)
        try:
            value = self._serializer.loads(self._raw[key].decode())
        except ValueError:
            raise KeyError(key) from None  # not JSON: written by something else
        self._values[key] = value
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = True
        self._values[key] = value
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        self.accessed = True
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
        dumps = self._serializer.dumps
        for key, value in self._values.items():
            encoded = dumps(value).encode()
            if raw.get(key) != encoded:
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
        """Whether the session holds nothing after the changes (loads it if needed)."""
        self.load()
        return not self._keys()
