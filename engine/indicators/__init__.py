"""Layer 2: technical indicators with TA-Lib 0.7.1's semantics.

Batch functions (numpy, whole series) live here; O(1)-per-bar streaming
versions in `engine.indicators.streaming`; the machine-readable catalogue
(inputs, parameters and their ranges, outputs, lookbacks) in
`engine.indicators.registry`.
"""

from __future__ import annotations

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
