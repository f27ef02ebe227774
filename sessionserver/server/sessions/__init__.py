"""The session manager and what it is made of: limits, locks, strategies, the user index."""

from __future__ import annotations

from .manager import SessionManager

__all__ = ["SessionManager"]
