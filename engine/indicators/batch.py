"""Batch indicators: pure numpy functions with TA-Lib 0.7.1's semantics.

Every function takes 1-D float64-convertible arrays, returns arrays of the
input's length, and puts NaN in the first `lookback` positions (the TA-Lib
convention; the lookbacks are in `engine.indicators.registry`). Input shorter
than the lookback gives all NaN. Bad input raises IndicatorError naming the
argument. Formulas and evaluation order: docs/talib_notes.md (docs of each function).

Where cancellation makes TA-Lib's last bits matter (BBANDS, CCI, MFI) or the
arithmetic is elementwise (WILLR, OBV, ROC, MOM), outputs are bit-identical to
TA-Lib. The recurrences (EMA, MACD, RSI, ATR, ADX) run through scipy's lfilter
and the sliding sums (SMA, WMA, STOCH's smoothing) through re-anchored
cumulative sums: they differ from TA-Lib in the last bits, inside docs/design.md's
agreement contract.
"""

from __future__ import annotations

from engine.indicators.batch_averages import Bands, Macd, bollinger, ema, macd, sma, wma
from engine.indicators.batch_momentum import Stoch, cci, mfi, mom, roc, rsi, stoch, willr
from engine.indicators.batch_statistics import highest, lowest, stddev
from engine.indicators.batch_volatility import adx, atr, obv

__all__ = [
    "Bands",
    "Macd",
    "Stoch",
    "adx",
    "atr",
    "bollinger",
    "cci",
    "ema",
    "highest",
    "lowest",
    "macd",
    "mfi",
    "mom",
    "obv",
    "roc",
    "rsi",
    "sma",
    "stddev",
    "stoch",
    "willr",
    "wma",
]
