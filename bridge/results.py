"""The result types the bridge returns: engine.indicators' own NamedTuples.

This is the one place the bridge gets Macd, Bands and Stoch from.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from engine.indicators import Bands, Macd, Stoch

FloatArray = npt.NDArray[np.float64]

MULTI_OUTPUT: Mapping[str, type[Macd] | type[Bands] | type[Stoch]] = MappingProxyType({
    "macd": Macd,
    "bollinger": Bands,
    "stoch": Stoch,
})

__all__ = ["MULTI_OUTPUT", "Bands", "FloatArray", "Macd", "Stoch"]
