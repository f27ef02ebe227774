"""The Lua scripts of the Redis container, read from the ``.lua`` files beside this module.

Every session script is the prelude (``scripts/prelude.lua``: the meta-field helpers) followed
by its own body; the lock scripts stand alone.  Each is called by its SHA1 (``EVALSHA``) and
sent in full (``EVAL``) only when the server answers ``NOSCRIPT``: after a restart, a
``SCRIPT FLUSH`` or on a cluster node that has not seen it yet.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files

__all__ = [
    "APPLY",
    "CHECK",
    "CREATE",
    "DELETE",
    "GC",
    "LOCK_TOUCH",
    "PEEK",
    "RAW",
    "RENEW",
    "RESTORE",
    "SAVE",
    "SET_TTL",
    "TOUCH",
    "UNLOCK",
    "Script",
]

_FOLDER = files(__package__) / "scripts"


class Script:
    """One Lua script: its text and the SHA1 Redis knows it by."""

    __slots__ = ("name", "sha", "text")

    def __init__(self, name: str, *, session: bool = True) -> None:
        body = (_FOLDER / f"{name}.lua").read_text(encoding="utf-8")
        if session:
            body = (_FOLDER / "prelude.lua").read_text(encoding="utf-8") + body
        self.name = name
        self.text = body.encode()
        self.sha = hashlib.sha1(self.text).hexdigest().encode()

    def __repr__(self) -> str:
        return f"<Script {self.name}>"


PEEK = Script("peek")
TOUCH = Script("touch")
CREATE = Script("create")
SAVE = Script("save")
DELETE = Script("delete")
RAW = Script("raw")
RESTORE = Script("restore")
CHECK = Script("check")
GC = Script("gc")
SET_TTL = Script("set_ttl")
APPLY = Script("apply")
LOCK_TOUCH = Script("lock_touch")
RENEW = Script("renew", session=False)
UNLOCK = Script("unlock", session=False)
