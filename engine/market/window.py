"""A fixed-capacity window of the most recent bars of one symbol (docs/design.md §2).

Storage: one numpy array per field, each twice the capacity long, holding the
retained bars as one contiguous slice (every query is a slice, never a
wrap-around concatenation). ``push`` itself only appends the bar to a list of
*pending* bars: most backtests never query the window (indicator streams keep
their own state), and a list append costs a fraction of six numpy scalar
stores. The first query after some pushes writes the pending bars into the
arrays in one pass per field (``_sync``). When nobody queries, the pending list
is trimmed to the newest ``capacity`` bars every ``capacity`` pushes, so memory
stays bounded and each bar is stored at most once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.errors import MarketDataError
from engine.market.bar import SYMBOL, TIMESTAMP, Bar

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_CAPACITY = 1000
#: the fields of ``back`` in the order of the window's arrays
_FIELDS = ("open", "high", "low", "close", "volume", "timestamp")


class MarketDataWindow:
    """The last ``capacity`` accepted bars of one symbol, oldest to newest.

    All bars share one symbol (the first bar's); timestamps strictly increase.
    ``push`` drops an identical repeat of the latest bar (returns False) and
    rejects, with ``MarketDataError``, a different bar at the latest timestamp,
    a bar older than it, or a bar of another symbol.
    """

    __slots__ = ("_buf", "_capacity", "_close", "_end", "_high", "_last",
                 "_last_ts", "_low", "_open", "_pending", "_start", "_ts", "_volume", "count")

    # Arguments a check must see are typed ``object``: compiled (engine/native.py), an
    # ``int`` parameter would turn a float into a bare TypeError and True into 1.
    def __init__(self, capacity: object = DEFAULT_CAPACITY) -> None:
        if type(capacity) is not int or capacity < 1:
            raise MarketDataError(f"window capacity must be an int >= 1, got {capacity!r}")
        size = 2 * capacity
        self._capacity = capacity
        self._open: FloatArray = np.zeros(size)
        self._high: FloatArray = np.zeros(size)
        self._low: FloatArray = np.zeros(size)
        self._close: FloatArray = np.zeros(size)
        self._volume: FloatArray = np.zeros(size)
        self._ts: IntArray = np.zeros(size, dtype=np.int64)
        self._buf = (self._open, self._high, self._low, self._close, self._volume, self._ts)
        self._start = 0  # index of the oldest retained bar in the arrays
        self._end = 0  # one past the newest written to the arrays
        self._pending: list[Bar] = []  # accepted, newer than the arrays' bars
        self._last: Bar | None = None
        self._last_ts = -1
        #: bars accepted since the window was made (retained or not): the latest bar's
        #: 1-based number (a strategy's ``market_data.index``)
        self.count = 0

    @property
    def capacity(self) -> int:
        """The maximum number of retained bars."""
        return self._capacity

    def __len__(self) -> int:
        return min(self._end - self._start + len(self._pending), self._capacity)

    def push(self, bar: Bar) -> bool:
        """Append ``bar``; True if appended, False if an identical duplicate was dropped.

        Raises MarketDataError for a different bar with the latest timestamp
        or for a bar older than the latest.
        """
        ts = bar[TIMESTAMP]  # by index: see engine/market/bar.py
        last = self._last
        if last is not None and (ts <= self._last_ts or bar[SYMBOL] != last[SYMBOL]):
            return self._reject_or_drop(bar, last)
        pending = self._pending
        pending.append(bar)
        if len(pending) >= 2 * self._capacity:
            # nobody queried for a while: the arrays' bars and the older half of
            # the pending ones have all left the window
            del pending[: self._capacity]
            self._start = self._end = 0
        self._last = bar
        self._last_ts = ts
        self.count += 1
        return True

    def _reject_or_drop(self, bar: Bar, last: Bar) -> bool:
        if bar.symbol != last.symbol:
            raise MarketDataError(
                f"bar for symbol {bar.symbol!r} at timestamp {bar.timestamp} pushed into the "
                f"window of {last.symbol!r}: field 'symbol' = {bar.symbol!r} does not match"
            )
        if bar.timestamp == self._last_ts:
            if bar == last:
                return False
            raise MarketDataError(
                f"conflicting duplicate bar for symbol {bar.symbol!r} at timestamp "
                f"{bar.timestamp}: field 'timestamp' = {bar.timestamp} already holds a "
                f"different bar ({last!r}); got {bar!r}"
            )
        raise MarketDataError(
            f"out-of-order bar for symbol {bar.symbol!r}: field 'timestamp' = "
            f"{bar.timestamp} is older than the latest accepted timestamp {self._last_ts}"
        )

    def _sync(self) -> None:
        """Write the pending bars into the arrays (before any query reads them)."""
        pending = self._pending
        if not pending:
            return
        capacity = self._capacity
        if len(pending) >= capacity:  # they alone fill the window
            del pending[: len(pending) - capacity]
            self._start = self._end = 0
        k = len(pending)
        end = self._end
        if end + k > len(self._ts):
            end = self._compact(capacity - k)
        if k == 1:
            bar = pending[0]
            o, h, lo, c, v, t = self._buf
            o[end], h[end], lo[end], c[end], v[end], t[end] = (*bar[2:7], bar[1])
        else:
            columns = list(zip(*pending, strict=True))  # symbol, timestamp, open, ... ask
            fields = (columns[2], columns[3], columns[4], columns[5], columns[6], columns[1])
            for arr, values in zip(self._buf, fields, strict=True):
                arr[end : end + k] = values
        pending.clear()
        self._end = end = end + k
        self._start = max(self._start, end - capacity)

    def _compact(self, keep: int) -> int:
        """Move the newest ``keep`` (at most) written bars to the front; return the new end."""
        keep = min(keep, self._end - self._start)
        src = self._end - keep
        for arr in self._buf:
            arr[:keep] = arr[src : self._end]
        self._start = 0
        self._end = keep
        return keep

    def back(self, name: str, k: int) -> float | int | None:
        """Field ``name`` (open, high, low, close, volume, timestamp) of the bar ``k``
        bars before the latest (k >= 1), or None when that bar is not retained."""
        if k >= len(self):
            return None
        pending = self._pending
        if k < len(pending):
            value: float | int = getattr(pending[-1 - k], name)
            return value if name == "timestamp" else float(value)  # (a Bar keeps an int price)
        self._sync()
        arr = self._ts if name == "timestamp" else self._buf[_FIELDS.index(name)]
        return arr[self._end - 1 - k].item()  # type: ignore[no-any-return]

    def latest(self) -> Bar | None:
        """The newest bar, or None when the window is empty."""
        return self._last

    def _length(self, n: object) -> int:
        """A query's ``n``, checked: an int in [1, capacity]."""
        if type(n) is not int or not 1 <= n <= self._capacity:
            raise MarketDataError(
                f"window query: field 'n' = {n!r} must be an int in [1, {self._capacity}]"
            )
        return n

    def _span(self, n: object) -> tuple[int, int]:
        """The array slice of the last ``n`` retained bars (all of them for None)."""
        return self._bounds(None if n is None else self._length(n))

    def _bounds(self, count: int | None) -> tuple[int, int]:
        """``_span`` of a checked count."""
        self._sync()
        if count is None:
            return self._start, self._end
        return max(self._start, self._end - count), self._end

    def _last_n(self, arr: FloatArray, n: object) -> FloatArray:
        lo, hi = self._span(n)
        return arr[lo:hi].copy()

    def opens(self, n: object = None) -> FloatArray:
        """The last ``min(n, len)`` opens, oldest to newest (all retained when n is None)."""
        return self._last_n(self._open, n)

    def highs(self, n: object = None) -> FloatArray:
        """The last ``min(n, len)`` highs, oldest to newest (all retained when n is None)."""
        return self._last_n(self._high, n)

    def lows(self, n: object = None) -> FloatArray:
        """The last ``min(n, len)`` lows, oldest to newest (all retained when n is None)."""
        return self._last_n(self._low, n)

    def closes(self, n: object = None) -> FloatArray:
        """The last ``min(n, len)`` closes, oldest to newest (all retained when n is None)."""
        return self._last_n(self._close, n)

    def volumes(self, n: object = None) -> FloatArray:
        """The last ``min(n, len)`` volumes, oldest to newest (all retained when n is None)."""
        return self._last_n(self._volume, n)

    def timestamps(self, n: object = None) -> IntArray:
        """The last ``min(n, len)`` timestamps (int64 ms), oldest to newest."""
        lo, hi = self._span(n)
        return self._ts[lo:hi].copy()

    def high(self, n: object) -> float | None:
        """The highest high of the last ``n`` bars (latest included); None if fewer retained."""
        count = self._length(n)
        lo, hi = self._bounds(count)
        if hi - lo < count:
            return None
        return float(self._high[lo:hi].max())

    def low(self, n: object) -> float | None:
        """The lowest low of the last ``n`` bars (latest included); None if fewer retained."""
        count = self._length(n)
        lo, hi = self._bounds(count)
        if hi - lo < count:
            return None
        return float(self._low[lo:hi].min())

    def arrays(self) -> dict[str, FloatArray]:
        """Copies of the retained "high", "low", "close", "volume", oldest to newest."""
        self._sync()
        lo, hi = self._start, self._end
        return {
            "high": self._high[lo:hi].copy(),
            "low": self._low[lo:hi].copy(),
            "close": self._close[lo:hi].copy(),
            "volume": self._volume[lo:hi].copy(),
        }
