"""The hypothesis profiles, selected by HYPOTHESIS_PROFILE (``dev`` when unset).

* ``dev``: hypothesis' defaults, no deadline; 25 examples per verify property;
* ``ci`` (``make test``): derandomized, no example database, ``print_blob``,
  no deadline — the same examples on every run; 300 per verify property;
* ``thorough`` (``make verify-thorough``): 10,000 examples per property.

The root ``conftest.py`` registers and loads them once per pytest session, so
``pytest tests`` and ``pytest verify`` both honour the variable. The profile is
global to the session: dev and ci keep hypothesis' default example count for the
tests/ suites, and the verify properties ask for their own count here.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, settings

EXAMPLES = {"dev": 25, "ci": 300, "thorough": 10_000}

_COMMON: dict[str, Any] = {
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "deadline": None,
}


def profile_name() -> str:
    """The active profile's name (dev when HYPOTHESIS_PROFILE is unset)."""
    return os.environ.get("HYPOTHESIS_PROFILE", "dev")


def register_and_load() -> None:
    """Register the three profiles and load the one HYPOTHESIS_PROFILE names."""
    settings.register_profile("dev", **_COMMON)
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_COMMON)
    settings.register_profile(
        "thorough",
        max_examples=EXAMPLES["thorough"],
        derandomize=False,
        database=None,
        print_blob=True,
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
        **_COMMON,
    )
    settings.load_profile(profile_name())


def verify_settings() -> settings:
    """The current profile with the verify properties' example count."""
    return settings(max_examples=EXAMPLES.get(profile_name(), EXAMPLES["dev"]))
