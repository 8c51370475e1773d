"""Session-wide pytest set-up for both suites (``tests/`` and ``verify/``).

The hypothesis profiles are registered and loaded here, once, so that
HYPOTHESIS_PROFILE (dev, ci, thorough: see ``verify/profiles.py``) applies to
``pytest tests`` as well as to ``pytest verify``.
"""

from verify.profiles import register_and_load

register_and_load()
