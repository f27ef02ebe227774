"""The daemon's log output: plain text for a terminal, JSON lines for a log pipeline.

Both formats carry the same records.  A record's fields (``peer``, ``command``, ``session``,
``reply``, ``duration_ms``...) are passed with ``extra=`` and become keys of the JSON object; in
text they are in the message already.  A session id is never logged whole: :func:`sid_prefix`
gives the prefix that is logged instead (enough to grep for, far too little to hijack with), and
no value or token is ever a field.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

__all__ = ["PREFIX", "JsonFormatter", "configure", "sid_prefix"]

#: Characters of a session id that logs (and the dashboard) may show.
PREFIX = 8

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: What every LogRecord has; anything else on a record is a field given with ``extra=``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def sid_prefix(sid: bytes | str | None) -> str | None:
    """The part of a session id that may be logged."""
    if sid is None:
        return None
    text = sid.decode("ascii", "replace") if isinstance(sid, bytes) else sid
    return text[:PREFIX]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _iso(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def configure(level: str, log_format: Literal["text", "json"] = "text") -> None:
    """Send the daemon's records to stderr in ``log_format``, from ``level`` up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # aiohttp logs every admin request at info on its own access logger: the daemon's access
    # log is the session commands', and the admin listener's requests stay out of it.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
