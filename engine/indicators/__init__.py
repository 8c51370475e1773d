"""Layer 2: technical indicators with TA-Lib 0.7.1's semantics.

Batch functions (numpy, whole series) live here; O(1)-per-bar streaming
versions in `engine.indicators.streaming`; the one table of indicator facts
(inputs, parameters and their ranges, outputs, lookbacks, TA-Lib twins, where
each implementation lives) in `engine.indicators.registry`. Every registry
indicator is an attribute of this package (`engine.indicators.<name>`, its
batch function), whether or not it is imported by name below.
"""

from __future__ import annotations

from typing import Any

from engine.indicators.batch import (
    Bands,
    Macd,
    Stoch,
    adx,
    atr,
    bollinger,
    cci,
    ema,
    macd,
    mfi,
    mom,
    obv,
    roc,
    rsi,
    sma,
    stoch,
    willr,
    wma,
)


def __getattr__(name: str) -> Any:
    """The batch function of registry indicator ``name`` (those not imported above)."""
    from engine.indicators.registry import SPECS

    spec = SPECS.get(name)
    if spec is None:
        raise AttributeError(f"module 'engine.indicators' has no attribute {name!r}")
    return spec.batch


__all__ = [
    "Bands",
    "Macd",
    "Stoch",
    "adx",
    "atr",
    "bollinger",
    "cci",
    "ema",
    "macd",
    "mfi",
    "mom",
    "obv",
    "roc",
    "rsi",
    "sma",
    "stoch",
    "willr",
    "wma",
]
