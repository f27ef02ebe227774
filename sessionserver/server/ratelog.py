"""Rate-limited logging: a burst of the same message is one line, then a count.

A store outage fails every request, a client guessing tokens fails every ``auth``, a full
server refuses every connection: logged one line per event, each of those floods the log (a
12 s Redis outage once wrote 1,091 ERROR lines).  :class:`RateLimit` is a logging filter that
lets the first record of each message (its format string, so "storage failed: %s" is one
message whatever the error; a format string that starts with its first argument, as
"%s from %s: %s" does, is one message per value of that argument, its kind) through, drops
the repeats for ``interval`` seconds, and then
reports how many it dropped on the next one that passes, or from :meth:`RateLimit.flush`,
which the daemon's housekeeping calls, so that a burst that stops is still counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

__all__ = ["RateLimit", "install"]

#: Seconds between two records of one message.
INTERVAL = 10.0


class RateLimit(logging.Filter):
    """At most one record per message and ``interval``; the rest counted, not written."""

    def __init__(
        self, *, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        #: message -> (time of the last record let through, records dropped since, a sample)
        self._seen: dict[tuple[str, object, object], tuple[float, int, logging.LogRecord]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, "_summary", False):
            return True
        msg, args = record.msg, record.args
        kind = args[0] if isinstance(args, tuple) and args and str(msg).startswith("%s") else None
        key = (record.name, msg, kind)
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.interval:
            self._seen[key] = (seen[0], seen[1] + 1, record)
            return False
        if seen is not None and seen[1]:
            record.msg = (
                f"{record.msg} (and {seen[1]} more like it in the last {now - seen[0]:.0f} s)"
            )
        self._seen[key] = (now, 0, record)
        return True

    def flush(self) -> list[logging.LogRecord]:
        """Summaries of the bursts whose interval has passed, as records to emit."""
        now = self.clock()
        out: list[logging.LogRecord] = []
        for key, (last, dropped, sample) in list(self._seen.items()):
            if now - last < self.interval:
                continue
            if dropped:
                summary = logging.makeLogRecord(sample.__dict__)
                summary.exc_info = summary.exc_text = None
                summary.msg = (
                    f"{sample.msg} ({dropped} more like it in the last {now - last:.0f} s)"
                )
                summary._summary = True
                out.append(summary)
            del self._seen[key]
        return out


_installed: list[RateLimit] = []


def install(handlers: Iterable[logging.Handler]) -> RateLimit:
    """Put one :class:`RateLimit` on each of ``handlers`` (the daemon's log outputs)."""
    limit = RateLimit()
    for handler in handlers:
        handler.addFilter(limit)
    _installed.append(limit)
    return limit


def flush() -> None:
    """Write the summaries that are due, on every installed filter's handlers."""
    for limit in _installed:
        for record in limit.flush():
            logging.getLogger(record.name).handle(record)
