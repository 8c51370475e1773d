"""How many examples the verify properties run under each HYPOTHESIS_PROFILE.

The profiles themselves (registered in ``verify/conftest.py``) are global to the
pytest session, which under ``make test`` also runs the hypothesis tests in
``tests/``: dev and ci therefore keep hypothesis' default example count for
everybody, and the verify properties ask for their own count here.
"""

from __future__ import annotations

import os

from hypothesis import settings

EXAMPLES = {"dev": 25, "ci": 300, "thorough": 10_000}


def profile_name() -> str:
    """The active profile's name (dev when HYPOTHESIS_PROFILE is unset)."""
    return os.environ.get("HYPOTHESIS_PROFILE", "dev")


def verify_settings() -> settings:
    """The current profile with the verify properties' example count."""
    return settings(max_examples=EXAMPLES.get(profile_name(), EXAMPLES["dev"]))
