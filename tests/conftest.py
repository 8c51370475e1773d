"""Shared pytest plumbing.

- `summary_line`: a callable taking one string; the lines appear in a "summary"
  section of the terminal report, with or without `-s`.
- `ocaml_server`: the OCaml server executable. `make test` builds it first, so a
  missing one is a failure, never a skip: a skip would hide a missing part.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

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


@pytest.fixture(scope="session")
def ocaml_server() -> Path:
    """The OCaml server executable ($TANDEM_OCAML_BIN or the dune build output)."""
    from bridge.transport import DEFAULT_EXECUTABLE, ENV_VAR

    exe = Path(os.environ.get(ENV_VAR) or DEFAULT_EXECUTABLE)
    if not exe.is_file():
        pytest.fail(f"the OCaml server {exe} is missing: run `make` (or `dune build`)",
                    pytrace=False)
    return exe
