"""PHP's ``session_set_save_handler`` callbacks, for frameworks that think in them.

PHP drives a session with six callbacks: ``open``, ``read`` (the whole session), ``write``
(the whole session, at the end of the request), ``close``, ``destroy`` and ``gc``, plus the
optional ``create_sid``, ``validate_id`` and ``update_timestamp`` of its strict mode.
:class:`SaveHandler` offers the same on top of :class:`SessionClient`, with two differences
that are the point of this server:

- ``write`` sends only what changed since ``read`` (one ``write`` command: the keys set and
  the keys removed), so two concurrent requests of one user that change different keys both
  keep their changes, and an unchanged session is not rewritten at all.
- ``write`` never brings back a session destroyed meanwhile (it returns False), and never
  creates one for an id the server did not issue (strict mode): ``create_sid`` does that.

Data is a dict of str to str (values are UTF-8 text) or bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

from .client import SessionClient
from .exceptions import SessionNotFound

__all__ = ["SaveHandler"]


class SaveHandler:
    """PHP-style session callbacks over a :class:`SessionClient`.

    Args:
        client: the client to use (shared; the handler keeps no connection of its own).
    """

    def __init__(self, client: SessionClient) -> None:
        self.client = client
        # What read() saw, per id, to write back only the difference.
        self._seen: dict[str, dict[str, bytes]] = {}

    def open(self, save_path: str = "", session_name: str = "") -> bool:
        """Nothing to open: the client connects as needed."""
        return True

    def close(self) -> bool:
        self._seen.clear()
        return True

    def create_sid(self) -> str:
        """A new, empty session on the server; its id."""
        sid = self.client.create()
        self._seen[sid] = {}
        return sid

    def validate_id(self, sid: str) -> bool:
        """Whether the server knows ``sid`` (strict mode: unknown ids are not adopted)."""
        try:
            self.client.expires(sid)
        except SessionNotFound:
            return False
        return True

    def read(self, sid: str) -> dict[str, bytes]:
        """The session's data; empty if the id is unknown or expired (as PHP expects)."""
        try:
            data = self.client.read(sid)
        except SessionNotFound:
            data = {}
        self._seen[sid] = dict(data)
        return data

    def write(self, sid: str, data: Mapping[str, bytes | str]) -> bool:
        """Save what changed since :meth:`read`; False if the session is gone."""
        before = self._seen.get(sid, {})
        encoded = {k: v.encode() if isinstance(v, str) else v for k, v in data.items()}
        changes = {k: v for k, v in encoded.items() if before.get(k) != v}
        removed = [k for k in before if k not in encoded]
        try:
            if changes or removed:
                self.client.write(sid, changes, removed)
            else:
                self.client.touch(sid)  # an access all the same: slide the expiry
        except SessionNotFound:
            return False
        self._seen[sid] = encoded
        return True

    def update_timestamp(self, sid: str, data: Mapping[str, bytes | str]) -> bool:
        """Refresh the expiry of an unchanged session without rewriting it."""
        try:
            self.client.touch(sid)
        except SessionNotFound:
            return False
        return True

    def destroy(self, sid: str) -> bool:
        self.client.destroy(sid)
        self._seen.pop(sid, None)
        return True

    def gc(self, max_lifetime: int) -> int:
        """Delete sessions idle longer than ``max_lifetime`` seconds; how many."""
        return self.client.gc(max_lifetime)
