"""Shared pytest plumbing.

- `summary_line`: a callable taking one string; the lines appear in a "summary"
  section of the terminal report, with or without `-s`.
- `ocaml_server`: the OCaml server executable (built if missing). A server that
  cannot be had is a failure, never a skip: a skip would hide a missing part.
"""

from __future__ import annotations

import os
import subprocess
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
    """The OCaml server executable: $TANDEM_OCAML_BIN, else the dune build output,
    built with `dune build` if it is missing. Fails loudly when there is none."""
    from bridge.transport import DEFAULT_EXECUTABLE, ENV_VAR, REPO_ROOT

    env = os.environ.get(ENV_VAR)
    if env:
        if not Path(env).is_file():
            pytest.fail(f"{ENV_VAR}={env} does not exist", pytrace=False)
        return Path(env)
    if not DEFAULT_EXECUTABLE.is_file():
        done = subprocess.run(["dune", "build", "./ocaml/bin/tandem_ocaml.exe"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0 or not DEFAULT_EXECUTABLE.is_file():
            pytest.fail(f"`dune build` could not build {DEFAULT_EXECUTABLE} (run `make`):\n"
                        f"{done.stderr}", pytrace=False)
    return DEFAULT_EXECUTABLE
