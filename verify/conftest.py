"""The shared implementations of ``pytest verify/`` (the hypothesis profiles are
registered by the root ``conftest.py``).

One OCaml server serves the whole session, from ``$TANDEM_OCAML_BIN`` or the
dune build output; when neither exists the OCaml fixture fails (``make test``
builds the server first, and a skip would hide a missing part).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def _ocaml_available() -> bool:
    from bridge.transport import locate_executable
    from engine.errors import BridgeError

    try:
        locate_executable()
    except BridgeError:
        return False
    return True


@pytest.fixture(scope="session")
def ocaml() -> Iterator[Any]:
    """The session's OCaml server (``bridge.OcamlIndicators``). ``make test`` builds
    it first, so a missing server fails: a skip would hide a missing part."""
    if not _ocaml_available():
        pytest.fail("OCaml indicator server not built: run `make` (or `dune build`)",
                    pytrace=False)
    from bridge import OcamlIndicators

    with OcamlIndicators() as client:
        yield client


@pytest.fixture(scope="session")
def impls(request: pytest.FixtureRequest) -> list[Any]:
    """Every available implementation: Python batch and stream, TA-Lib, and OCaml
    batch and stream when the server is built."""
    from bridge.crosscheck import OcamlBatch, OcamlStream, PythonBatch, PythonStream, Talib
    from verify.harness import MAX_OCAML_PUSH

    found: list[Any] = [PythonBatch(), PythonStream(), Talib()]
    if _ocaml_available():
        client = request.getfixturevalue("ocaml")
        found += [OcamlBatch(client), OcamlStream(client, max_push=MAX_OCAML_PUSH)]
    return found
