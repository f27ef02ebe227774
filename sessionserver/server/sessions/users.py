"""Which sessions belong to which user: the index behind "log out everywhere".

The daemon never interprets session data, with one exception: the value of a designated key
(``--user-keys``, by default ``_user_id`` as Flask-Login writes it and ``_auth_user_id`` as
Django's auth writes it) names the session's user.  The storage reports every save, drop
(destroy, expiry, gc) and rename; this index follows them, so it is always exact and costs
nothing to query.  It is rebuilt from the stored sessions at start.
"""

from __future__ import annotations

from ...storage.base import plain_user, user_id

__all__ = ["UserIndex"]


class UserIndex:
    """user id -> session ids, and back."""

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        self.keys = keys
        self._sessions: dict[bytes, set[bytes]] = {}
        self._user: dict[bytes, bytes] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def saved(self, sid: bytes, data: dict[bytes, bytes]) -> None:
        user = user_id(data, self.keys)
        old = self._user.get(sid)
        if user == old:
            return
        if old is not None:
            self._forget(sid, old)
        if user is not None:
            self._user[sid] = user
            self._sessions.setdefault(user, set()).add(sid)

    def dropped(self, sid: bytes) -> None:
        old = self._user.get(sid)
        if old is not None:
            self._forget(sid, old)

    def renamed(self, old: bytes, new: bytes) -> None:
        user = self._user.get(old)
        if user is not None:
            self._forget(old, user)
            self._user[new] = user
            self._sessions.setdefault(user, set()).add(new)

    def _forget(self, sid: bytes, user: bytes) -> None:
        del self._user[sid]
        sessions = self._sessions[user]
        sessions.discard(sid)
        if not sessions:
            del self._sessions[user]

    def sessions(self, user: bytes) -> list[bytes]:
        """The user's session ids (sorted, for stable output)."""
        return sorted(self._sessions.get(plain_user(user), ()))
