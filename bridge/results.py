"""The result types the bridge returns, shared with engine.indicators.

This is the one place the bridge gets Macd, Bands and Stoch from.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


# Temporary twins of engine.indicators' NamedTuples until that module exists;
# replaced by `from engine.indicators import Bands, Macd, Stoch`.
class Macd(NamedTuple):
    """MACD line, signal line and histogram."""

    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


class Bands(NamedTuple):
    """Bollinger upper, middle and lower bands."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


class Stoch(NamedTuple):
    """Slow %K and %D."""

    k: FloatArray
    d: FloatArray


MULTI_OUTPUT: Mapping[str, type[Macd] | type[Bands] | type[Stoch]] = MappingProxyType({
    "macd": Macd,
    "bollinger": Bands,
    "stoch": Stoch,
})
