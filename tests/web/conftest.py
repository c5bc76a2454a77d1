"""Where the dashboard tests leave their screenshots, said at the end of the run."""

from pathlib import Path

import pytest

__all__ = ["SCREENSHOT_FOLDERS"]

# Folders the browser tests wrote screenshots to during this run.
SCREENSHOT_FOLDERS: list[Path] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for folder in dict.fromkeys(SCREENSHOT_FOLDERS):
        terminalreporter.write_line(f"dashboard screenshots: {folder}")
