"""Bars held as columns, and a feed that replays them (a sweep's data, parsed once).

``BarArrays`` keeps one symbol's accepted bars as numpy columns (int64 timestamps,
float64 prices; quotes NaN where a bar has none): compact to pickle to a worker
process or put in Ray's object store once. ``ArrayFeed`` replays a slice of them
as ``Bar``s equal field by field to those they were built from (float64 → Python
float and int64 → int are exact), so a run over it trades exactly like a run over
the feed that produced the bars. The columns were validated as bars when they
were collected; the replay builds them without validating again
(``trusted_bars``), unless they carry quotes (rare: then ``Bar(...)`` checks them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError, FeedError
from engine.market.bar import Bar, trusted_bars
from engine.market.feeds.stats import FeedStats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class BarArrays:
    """One symbol's bars as columns, in time order (see the module docstring)."""

    symbol: str
    timestamp: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    bid: FloatArray | None = None  # NaN: no quote on that bar
    ask: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.timestamp.size)

    @classmethod
    def from_bars(cls, symbol: str, bars: Iterable[Bar]) -> BarArrays:
        """The columns of ``bars`` (all of ``symbol``)."""
        rows = list(bars)
        if any(b.symbol != symbol for b in rows):
            raise ConfigError(f"BarArrays.from_bars: every bar must be of {symbol}")

        def col(i: int) -> FloatArray:
            return np.array([b[i] for b in rows], dtype=np.float64)

        quoted = any(b.bid is not None or b.ask is not None for b in rows)

        def quote(i: int) -> FloatArray:
            return np.array([np.nan if b[i] is None else b[i] for b in rows], dtype=np.float64)

        return cls(symbol, np.array([b.timestamp for b in rows], dtype=np.int64),
                   col(2), col(3), col(4), col(5), col(6),
                   quote(7) if quoted else None, quote(8) if quoted else None)

    def bars(self, start: int = 0, stop: int | None = None) -> Iterator[Bar]:
        """The bars ``[start, stop)``, rebuilt exactly."""
        sl = slice(start, stop)
        cols = (self.timestamp[sl].tolist(), self.open[sl].tolist(), self.high[sl].tolist(),
                self.low[sl].tolist(), self.close[sl].tolist(), self.volume[sl].tolist())
        if self.bid is None or self.ask is None:
            return trusted_bars(self.symbol, *cols)
        bids = [None if q != q else q for q in self.bid[sl].tolist()]  # NaN → no quote
        asks = [None if q != q else q for q in self.ask[sl].tolist()]
        return (Bar(self.symbol, *row) for row in zip(*cols, bids, asks, strict=True))


class ArrayFeed:
    """A finite feed replaying ``arrays[start:stop]`` (the Feed protocol, plus the
    ``iter_bars`` fast path of in-process feeds)."""

    def __init__(self, arrays: BarArrays, start: int = 0, stop: int | None = None) -> None:
        n = len(arrays)
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise ConfigError(f"ArrayFeed: slice [{start}, {stop}) outside the {n} bars")
        self.arrays, self.start, self.stop = arrays, start, stop
        self.stats = FeedStats()
        self._started = False

    @property
    def total(self) -> int | None:
        """The number of bars it replays."""
        return self.stop - self.start

    def iter_bars(self) -> Iterator[Bar]:
        """The bars as a plain iterator (once)."""
        if self._started:
            raise FeedError("an ArrayFeed is replayed once; create a new one")
        self._started = True
        self.stats.bars += self.stop - self.start
        return self.arrays.bars(self.start, self.stop)

    async def _aiter(self) -> AsyncIterator[Bar]:
        for bar in self.iter_bars():
            yield bar

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self._aiter()

    async def aclose(self) -> None:
        """Nothing to release."""
