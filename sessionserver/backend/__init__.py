"""Load and save sessions for the adapters (see ``_async.py``; ``_sync.py`` is generated)."""

from __future__ import annotations

from ..ids import is_valid_id
from ._async import AsyncSessionBackend
from ._sync import SessionBackend

__all__ = ["AsyncSessionBackend", "SessionBackend", "valid_cookie"]


def valid_cookie(value: str | None) -> str | None:
    """The session id in a cookie value, if it can be one (anything else is ignored, never
    sent to the server)."""
    if value and is_valid_id(value.encode()):
        return value
    return None
