"""Streaming indicators: O(1) work per bar (CCI: O(period), as in TA-Lib itself).

Each class keeps TA-Lib 0.7.1's evaluation order with plain float arithmetic,
so on the same series it produces the same bits as `talib.func`, and agrees
with the batch functions of `engine.indicators` inside docs/design.md's contract.

Common interface of every stream:

* `update_hlcv(high, low, close, volume)` — the fast path the runner uses: raw
  floats, assumed finite (they come from validated bars); returns the new
  value, or None during warm-up. Close-only indicators ignore high/low/volume.
* `update(bar_or_close)` — a bar (anything with .high .low .close .volume) or,
  for close-only indicators, a bare number; validated, then as above.
* `value` — the last output (None during warm-up).

Multi-output indicators return plain tuples in the order of their batch
NamedTuple: MACD (macd, signal, histogram), Bollinger (upper, middle, lower),
STOCH (k, d).

`create(name, params, history)` builds a stream by registry name and feeds it
a window of history, oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from engine.errors import IndicatorError
from engine.indicators._validate import as_series, same_length
from engine.indicators.registry import spec_for
from engine.indicators.streaming_base import BarLike, Stream, Value
from engine.indicators.streaming_close import (
    BollingerStream,
    EmaStream,
    MacdStream,
    MomStream,
    RocStream,
    RsiStream,
    SmaStream,
    WmaStream,
)
from engine.indicators.streaming_hlc import (
    AdxStream,
    AtrStream,
    CciStream,
    MfiStream,
    ObvStream,
    StochStream,
    WillrStream,
)

__all__ = [
    "AdxStream",
    "AtrStream",
    "BarLike",
    "BollingerStream",
    "CciStream",
    "EmaStream",
    "MacdStream",
    "MfiStream",
    "MomStream",
    "ObvStream",
    "RocStream",
    "RsiStream",
    "SmaStream",
    "StochStream",
    "Stream",
    "Value",
    "WillrStream",
    "WmaStream",
    "create",
    "feed",
]

Params = Mapping[str, object] | Sequence[object] | None


def create(
    name: str,
    params: Params = None,
    history: Mapping[str, npt.ArrayLike] | None = None,
) -> Stream:
    """Create the stream `name` (a registry key, e.g. "rsi") and feed it `history`.

    `params` are by name (``{"period": 14}``) or by position (``(14,)``); missing
    ones take their defaults, and each is range-checked. `history` maps input
    names ("high", "low", "close", "volume") to equal-length arrays, oldest
    first; only the indicator's own inputs are needed.
    """
    spec = spec_for(name)
    stream = spec.stream(*spec.resolve(params))
    if history is not None:
        feed(stream, history)
    return stream


def feed(stream: Stream, history: Mapping[str, npt.ArrayLike]) -> Value:
    """Feed `stream` every bar of `history` (oldest first); return its last value."""
    func = stream.name
    columns: dict[str, np.ndarray] = {}
    for field in stream.inputs:
        if field not in history:
            raise IndicatorError(
                f"{func}: history lacks '{field}' (needs {', '.join(stream.inputs)}; "
                f"got {', '.join(sorted(history)) or 'nothing'})"
            )
        columns[field] = as_series(func, field, history[field])
    size = same_length(func, **columns)
    zeros = [0.0] * size
    close = columns["close"].tolist() if "close" in columns else zeros
    high = columns["high"].tolist() if "high" in columns else close
    low = columns["low"].tolist() if "low" in columns else close
    volume = columns["volume"].tolist() if "volume" in columns else zeros
    update = stream.update_hlcv
    for h, lo, c, v in zip(high, low, close, volume, strict=True):
        update(h, lo, c, v)
    return stream.value
