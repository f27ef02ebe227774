"""The hostile-client suite: every finding of issue 10 as an attack on a real daemon."""

from __future__ import annotations

import pytest

from .attack import FIGURES
from .probe import WORST


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if WORST:
        latency, _, name = max(WORST)
        _, stall, stalled = max(WORST, key=lambda item: item[1])
        terminalreporter.write_line(
            f"hostile suite, over {len(WORST)} attacks: worst ping {latency * 1000:.1f} ms "
            f"({name}); worst stall (less run-queue waits) {stall * 1000:.1f} ms ({stalled})"
        )
    for what, value in FIGURES:
        terminalreporter.write_line(f"hostile suite: {what}: {value}")
