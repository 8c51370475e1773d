"""Hypothesis profiles and the shared implementations of ``pytest verify/``.

HYPOTHESIS_PROFILE selects the profile:
* ``dev`` (default outside make): 25 examples per verify property;
* ``ci`` (``make test``): derandomized, no example database, ``print_blob``,
  no deadline — the same examples on every run; 300 per verify property;
* ``thorough`` (``make verify-thorough``): 10,000 examples per property.
The profile is global to the session; the verify properties' own example counts
are in ``verify/profiles.py`` (the tests/ suites keep hypothesis' default).

One OCaml server serves the whole session. It is used when its executable
exists (``$TANDEM_OCAML_BIN`` or the dune build output); otherwise the OCaml
pairs are skipped with a visible reason and the Python/TA-Lib pairs still run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from verify.profiles import profile_name

_COMMON: dict[str, Any] = {
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "deadline": None,
}
settings.register_profile("dev", **_COMMON)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_COMMON)
settings.register_profile(
    "thorough",
    max_examples=10_000,
    derandomize=False,
    database=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    **_COMMON,
)
settings.load_profile(profile_name())


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
