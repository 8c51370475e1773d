"""`pytest tests` runs under the HYPOTHESIS_PROFILE the root conftest.py loaded."""

from __future__ import annotations

from hypothesis import settings

from verify.profiles import profile_name


def test_the_named_profile_is_loaded() -> None:
    active = settings.default
    named = settings.get_profile(profile_name())
    # deadline=None is common to all three profiles (hypothesis' own default is 200 ms),
    # derandomize tells ci (True) from dev/thorough (False), max_examples thorough.
    assert active is not None
    assert active.deadline is None
    assert (active.derandomize, active.database, active.max_examples) == (
        named.derandomize, named.database, named.max_examples)
