"""Counterexamples found by the harness, re-checked on every run as ``@example``s.

Each entry is a ``Case`` as hypothesis printed it (``Case.of(...)``), with a
comment saying what it exposed and where it was fixed. ``PINNED[name]`` feeds
the agreement property of indicator ``name``; ``PINNED_ERRORS[name]`` the
error-agreement property.
"""

from __future__ import annotations

from collections.abc import Mapping

from verify.cases import Case

PINNED: Mapping[str, tuple[Case, ...]] = {
    # Hand-picked edges that every indicator must survive, whatever hypothesis draws.
    "stoch": (
        # Flat bars: zero range, TA-Lib's diff == 0 branch gives 0.
        Case.of("stoch", (3, 2, 2), close=[5.0] * 9),
        # Empty input with lookback 0 (the TA-Lib wrapper bug, see "obv").
        Case.of("stoch", (1, 1, 1), close=[]),
    ),
    "willr": (Case.of("willr", (3,), close=[5.0] * 6),),
    "rsi": (
        # A constant series: gain + loss == 0, TA-Lib outputs 0.
        Case.of("rsi", (2,), close=[7.0] * 6),
    ),
    "bollinger": (
        # Variance below TA-Lib's 1e-14 threshold snaps the deviation to 0.
        Case.of("bollinger", (3, 2.0, 2.0), close=[1e-8, 1.0000001e-8, 1e-8, 1e-8]),
    ),
    "obv": (
        # Empty input with lookback 0: TA-Lib 0.7.1's wrapper writes before its
        # output buffer (heap corruption, found by this harness); the TA-Lib
        # adapter answers empty input without calling C. Re-checked here.
        Case.of("obv", (), close=[]),
    ),
    "mfi": (
        # Zero volume everywhere: money flow sum < 1 gives 0.
        Case.of("mfi", (2,), close=[1.0, 2.0, 3.0, 2.0], volume=[0.0] * 4),
    ),
}

PINNED_ERRORS: Mapping[str, tuple[tuple[str, Case], ...]] = {}
