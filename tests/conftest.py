"""Shared pytest plumbing: tests may add lines to a summary printed after the run.

Use the `summary_line` fixture (a callable taking one string); the lines appear
in a "summary" section of the terminal report, with or without `-s`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_LINES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_LINES] = []


@pytest.fixture(scope="session")
def summary_line(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Append a line to the end-of-run summary."""
    return pytestconfig.stash[_LINES].append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(_LINES, [])
    if lines:
        terminalreporter.section("summary")
        for line in lines:
            terminalreporter.write_line(line)
