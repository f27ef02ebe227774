from __future__ import annotations

from sessionserver import SessionClient
from sessionserver.save_handler import SaveHandler

from ..helpers import Daemon
from .conftest import url


def test_php_style_callbacks(memory_daemon: Daemon) -> None:
    with SessionClient(url(memory_daemon)) as client:
        handler = SaveHandler(client)
        assert handler.open("/tmp", "PHPSESSID")
        sid = handler.create_sid()
        assert handler.validate_id(sid)
        assert not handler.validate_id("0123456789abcdef0123456789abcdef")
        assert handler.read(sid) == {}
        assert handler.write(sid, {"user": "42", "cart": "1"})
        assert handler.read(sid) == {"user": b"42", "cart": b"1"}
        # a concurrent request changes another key in the meantime
        client.write(sid, {"theme": "dark"})
        assert handler.write(sid, {"user": "42", "cart": "2"})  # only cart changed
        assert client.read(sid) == {"user": b"42", "cart": b"2", "theme": b"dark"}
        assert handler.write(sid, {"user": "42"})  # cart removed, theme kept
        assert client.read(sid) == {"user": b"42", "theme": b"dark"}
        assert handler.update_timestamp(sid, {"user": "42"})
        assert handler.destroy(sid)
        assert not handler.write(sid, {"user": "42"})  # never brought back
        assert handler.read(sid) == {}
        assert not handler.validate_id(sid)
        assert handler.gc(100_000) == 0
        assert handler.close()
