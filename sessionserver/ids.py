"""The one definition of a session id, used by the daemon, the storage containers and clients.

Issued ids are 128 bits from :mod:`secrets` as 32 lower-case hex digits.  Ids that come from the
wire are checked against a strict alphabet and length before anything uses them, so an id can
never name a path outside a storage folder (no ``/``, ``.`` or ``\\``).  The alphabet is PHP's
(``session.sid_bits_per_character`` 4, 5 and 6 use ``[0-9a-zA-Z,-]``) so that operators who allow
client-chosen ids can keep the ones their PHP applications already hand out.
"""

from __future__ import annotations

import re
import secrets

__all__ = ["MAX_ID_LENGTH", "MIN_ID_LENGTH", "generate_id", "is_valid_id"]

MIN_ID_LENGTH = 8
MAX_ID_LENGTH = 128

_VALID = re.compile(rb"[0-9A-Za-z,-]{%d,%d}" % (MIN_ID_LENGTH, MAX_ID_LENGTH)).fullmatch


def generate_id() -> bytes:
    """A fresh session id: 128 random bits, 32 lower-case hex digits."""
    return secrets.token_hex(16).encode()


def is_valid_id(sid: bytes) -> bool:
    """Whether ``sid`` is acceptable as a session id (alphabet and length)."""
    # bytes.isalnum() is ASCII-only: the common case without the regex.
    if sid.isalnum():
        return MIN_ID_LENGTH <= len(sid) <= MAX_ID_LENGTH
    return _VALID(sid) is not None
