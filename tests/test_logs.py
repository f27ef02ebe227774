"""``--log-format json``: every line of the daemon's log is one JSON object with time, level,
logger and message; the access log is at debug; auth failures and limits reached are warnings;
no value, whole session id or token ever appears."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from sessionserver.logs import JsonFormatter, sid_prefix

from .conftest import StartDaemon

TOKEN = "app-t0ken-never-logged"
VALUE = "v4lue-never-logged"


def parse(log: str) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(log.splitlines(), 1):
        entry = json.loads(line)  # every line, not just most
        assert isinstance(entry, dict), (number, line)
        assert {"time", "level", "logger", "message"} <= entry.keys(), (number, line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"]), line
        entries.append(entry)
    return entries


def test_json_lines_at_debug(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(
        "--storage",
        "memory://",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--max-value",
        "64",
        env={"SESSIONSERVER_AUTH_TOKEN": TOKEN},
    )
    with daemon.client() as c:
        assert c.cmd("auth wrong-token-guess") == "err Invalid token."
        assert c.cmd("auth wrong-token-guess") == "err Invalid token."  # not logged again
        assert c.cmd(f"auth {TOKEN}") == "ok"
        sid = c.new_session(secret=VALUE)
        assert c.cmd(f"open {sid} w") == "ok"
        assert c.cmd("put big " + "x" * 100) == "err Value too large."
        assert c.cmd("get secret") == f"ok {VALUE}"
        assert c.cmd("close") == "ok"
    assert daemon.stop() == 0
    log = daemon.log
    entries = parse(log)
    for secret in (VALUE, TOKEN, "wrong-token-guess", sid):
        assert secret not in log, secret

    levels = {e["level"] for e in entries}
    assert {"debug", "info", "warning"} <= levels
    assert entries[0]["logger"] == "sessionserver"
    assert entries[0]["message"].startswith("sessionserver listening on 127.0.0.1:")

    access = [e for e in entries if e["logger"] == "sessionserver.access"]
    assert all(e["level"] == "debug" for e in access)
    by_command = [(e["command"], e["reply"]) for e in access]
    assert by_command == [
        ("auth", "auth_failed"),
        ("auth", "auth_failed"),
        ("auth", "ok"),
        ("new", "ok"),
        ("put", "ok"),
        ("close", "ok"),
        ("open", "ok"),
        ("put", "value_too_large"),
        ("get", "ok"),
        ("close", "ok"),
    ]
    for e in access:
        assert e["peer"].startswith("127.0.0.1:")
        assert isinstance(e["duration_ms"], float)
    with_session = [e for e in access if e["command"] in ("open", "put", "get")]
    assert {e["session"] for e in with_session} == {sid[:8]}

    warnings = [e for e in entries if e["level"] == "warning"]
    assert [(w["reply"], w["message"].split(" from ")[0]) for w in warnings] == [
        ("auth_failed", "authentication failed"),
        ("value_too_large", "limit reached"),
    ]
    assert warnings[1]["session"] == sid[:8]
    assert all(w["peer"].startswith("127.0.0.1:") for w in warnings)


def test_text_is_the_default_and_has_no_access_log_at_info(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--storage", "memory://")
    with daemon.client() as c:
        c.new_session(k="v")
    daemon.stop()
    lines = daemon.log.splitlines()
    assert lines[0].split(" ", 3)[2:] == ["INFO", lines[0].split(" ", 3)[3]]
    assert " sessionserver.access" not in daemon.log
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])


def test_the_formatter_keeps_fields_and_exceptions() -> None:
    record = logging.makeLogRecord(
        {"name": "x", "levelname": "ERROR", "msg": "failed %s", "args": ("here",), "peer": "p"}
    )
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "failed here"
    assert entry["level"] == "error" and entry["peer"] == "p"
    assert "ValueError: boom" in entry["exception"]
    assert sid_prefix(b"0123456789abcdef0123456789abcdef") == "01234567"
    assert sid_prefix(None) is None
