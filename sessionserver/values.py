"""How session values are stored: one JSON document per key (compact, UTF-8), the encoding
every adapter shares, so that apps on different frameworks (and PHP pages) read each other's
sessions; and the one key the adapters keep for themselves.

A value that is not JSON (a PHP page's ``put note plain text``) reads as its text (a ``str``,
undecodable bytes replaced), and is never rewritten unless the application sets that key.
Never pickle.

A session whose cookie is a browser-session one (the app that made it, or gave it that kind on
purpose, was configured so: Flask's non-permanent sessions, Django's
``SESSION_EXPIRE_AT_BROWSER_CLOSE``, ``max_age=None`` in Starlette and WSGI) says so on the
server under :data:`BROWSER_COOKIE`, a key every adapter keeps out of the app's view, so that
any adapter that sends its cookie again sends the same kind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "BROWSER_COOKIE",
    "BROWSER_COOKIE_PAIR",
    "JSON",
    "Serializer",
    "decode",
    "decode_all",
    "diff",
    "encode_change",
    "split_meta",
]

#: The key (kept out of every app's view) that marks a session whose cookie is a
#: browser-session one; its value is ``true``.
BROWSER_COOKIE = "__sessionserver_browser_cookie"
BROWSER_COOKIE_PAIR = {BROWSER_COOKIE: b"true"}


class Serializer(Protocol):
    def dumps(self, value: Any) -> str: ...

    def loads(self, text: str) -> Any: ...


class _Json:
    """Compact JSON, UTF-8, no NaN: what every adapter stores a value as by default."""

    # One encoder: json.dumps with options builds a new one on every call.
    _encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

    def dumps(self, value: Any) -> str:
        return self._encode(value)

    def loads(self, text: str) -> Any:
        return json.loads(text)


JSON: Serializer = _Json()


def decode(stored: bytes, serializer: Serializer = JSON) -> Any:
    """One stored value: its JSON, or its text when it is not JSON (written by a PHP page)."""
    text = stored.decode("utf-8", "replace")
    try:
        return serializer.loads(text)
    except ValueError:
        return text


def split_meta(raw: Mapping[str, bytes]) -> tuple[dict[str, bytes], bool]:
    """(the app's pairs, whether the session's cookie is a browser-session one)."""
    pairs = dict(raw)
    return pairs, pairs.pop(BROWSER_COOKIE, None) is not None


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
