"""docs/protocol.md documents every command and every error reply."""

from __future__ import annotations

from pathlib import Path

from sessionserver.protocol import COMMANDS, ERRORS

DOC = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text()


def test_every_command_is_documented() -> None:
    for name in COMMANDS:
        assert f"`{name}" in DOC, name


def test_every_error_reply_is_documented() -> None:
    for err in ERRORS.values():
        if err.name == "unknown_command":
            assert "`err unknown command`" in DOC
            continue
        assert f"`err {err.message}`" in DOC or err.message in DOC, err.message
