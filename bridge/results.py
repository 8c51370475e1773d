"""The result types the bridge returns: the registry's own NamedTuples.

This is the one place the bridge gets Macd, Bands and Stoch from; which
indicator returns which is the registry's ``IndicatorSpec.result``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from engine.indicators.registry import SPECS, Bands, Macd, Stoch

FloatArray = npt.NDArray[np.float64]


def result_type(name: str) -> type[tuple[Any, ...]] | None:
    """The NamedTuple indicator ``name`` returns, None for one output (or an unknown name)."""
    spec = SPECS.get(name)
    return spec.result if spec is not None else None


__all__ = ["Bands", "FloatArray", "Macd", "Stoch", "result_type"]
