"""The hostile-client suite: every finding of issue 10 as an attack on a real daemon."""

from __future__ import annotations

import pytest

from .attack import FIGURES
from .probe import WORST


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if WORST:
        worst, name = max(WORST)
        terminalreporter.write_line(
            f"hostile suite: worst ping under attack {worst * 1000:.1f} ms ({name}), "
            f"over {len(WORST)} attacks"
        )
    for what, value in FIGURES:
        terminalreporter.write_line(f"hostile suite: {what}: {value}")
