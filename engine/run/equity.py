"""The equity and price series of one symbol's run, for the journal (docs/design.md §8).

Per bar the runner keeps the ``Bar`` (one list append, ≈ 25 ns); the bar's equity is
the ``Account``'s mark (``Account.marks``, kept whole: 8 bytes a bar). Between bars —
the orchestrator's housekeeping, every 1,024 bars or 0.25 s — ``write_if_due``
advances (at least every ``MAX_KEPT`` bars) and writes (once a second): ``advance``
reads the kept bars' timestamps in one pass, computes each bar's drawdown from the
running peak of *every* bar and adds *points* to two bounded series:

* ``equity`` (``EQUITY_COLUMNS``): one point per bar up to ``EQUITY_LIMIT`` bars; then
  per bucket of ``bucket`` bars (a power of two) its lowest and highest equity and its
  deepest drawdown, so no drawdown is ever hidden;
* ``price`` (``PRICE_COLUMNS``): every bar's OHLC up to ``PRICE_LIMIT`` bars (the
  report draws candles up to 5,000), then the first bar of each bucket — a sample: the
  per-bar cost of reading four more fields of every bar (≈ 200 ns) would exceed the
  equity journal's budget (0.3 µs a bar), and the trades are marked at their own prices.

When a series would exceed its limit the bucket size doubles and pairs of buckets
merge (``engine.report.downsample.group_extremes``: merged, a bucket keeps exactly what
it would keep from its bars). The first bar and, at the end, the last are always kept.

The statistics that need every bar (volatility, Sharpe, Sortino, drawdown durations,
exposure) come from the whole series at the end of the run (``statistics``), never
from the stored points.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Sequence
from operator import itemgetter
from typing import Protocol

import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError
from engine.market.bar import Bar
from engine.report.downsample import group_extremes, median_int, regular_extremes, sorted_unique
from engine.report.stats import EquitySeries, Statistics, TradeRecord, compute_statistics

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The stored columns of each series, in the order of its journal blob (float64).
EQUITY_COLUMNS = ("timestamp", "equity", "drawdown")
PRICE_COLUMNS = ("timestamp", "open", "high", "low", "close")
#: Most points stored per symbol and series.
EQUITY_LIMIT = 100_000
PRICE_LIMIT = 10_000
#: Seconds between two writes of the new points (the journal commits within a second
#: more), and most bars kept before a write regardless.
WRITE_INTERVAL_S = 1.0
MAX_KEPT = 8192

_TIME = itemgetter(1)
_OHLC = tuple(itemgetter(i) for i in range(2, 6))


class EquityJournal(Protocol):
    """Where the series are written (``engine.run.journal.Journal``)."""

    def write_series(self, symbol: str, kind: str, bucket: int, points: FloatArray,
                     *, replace: bool) -> None: ...


class PointSeries:
    """A bounded series of points: column 0 the bar index, then ``columns``; per
    bucket the minimum of the ``lowest`` columns and the maximum of the ``highest``."""

    __slots__ = ("_count", "_high", "_limit", "_low", "_points", "_replace", "_written",
                 "bucket", "columns", "kind")

    def __init__(self, kind: str, columns: Sequence[str], lowest: Sequence[str],
                 highest: Sequence[str], limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 16:
            raise ConfigError(f"{kind} series: limit = {limit!r} must be an integer >= 16")
        self.kind = kind
        self.columns = tuple(columns)
        self._low = tuple(1 + self.columns.index(c) for c in lowest)
        self._high = tuple(1 + self.columns.index(c) for c in highest)
        self._limit = limit
        #: bars per bucket (1 = a point per bar)
        self.bucket = 1
        # room for every point up front (untouched pages cost nothing): growing by
        # copies cost ≈ 7 ms per doubling at 10^5 points, most of it page faults
        self._points = np.empty((limit + 1024, 1 + len(self.columns)))
        self._count = 0
        self._written = 0
        self._replace = False

    @property
    def points(self) -> FloatArray:
        """The stored columns of the current points (a copy), one row each."""
        return self._points[:self._count, 1:].copy()

    def bars(self) -> IntArray:
        """The bar index of each current point."""
        return self._points[:self._count, 0].astype(np.int64)

    def plan(self, m: int) -> int:
        """How many of ``m`` new bars become a point each (the room left while the
        series is still a point per bar); coarsens the bucket so that the rest's points
        take at most half the limit (the stored points stay finer: the next merge
        regroups them)."""
        raw = min(m, self.room()) if self.bucket == 1 else 0
        per_bucket = max(len(self._low) + len(self._high), 1)
        while m > raw and self.bucket * self._limit < 2 * per_bucket * (m - raw):
            self.bucket *= 2
        return raw

    def select(self, bars: IntArray, values: FloatArray, *, first: bool,
               last: bool) -> IntArray:
        """Which of new bars (``bars``: consecutive indexes; ``values``: rows of the
        columns) to keep at the current bucket size (after ``plan``)."""
        if self.bucket == 1 or bars.size == 0:
            return np.arange(bars.size, dtype=np.int64)
        if not self._low and not self._high:  # a sample: each bucket's first bar
            keep = np.flatnonzero(bars % self.bucket == 0)
        else:
            keep = regular_extremes(int(bars[0]), self.bucket,
                                    lowest=tuple(values[:, i - 1] for i in self._low),
                                    highest=tuple(values[:, i - 1] for i in self._high))
        ends = ([0] if first else []) + ([bars.size - 1] if last else [])
        return sorted_unique(np.concatenate([keep, np.asarray(ends, dtype=np.int64)]))

    def room(self) -> int:
        """How many points fit before the next merge."""
        return max(self._limit - self._count, 0)

    def add(self, rows: FloatArray, final: bool = False) -> None:
        """Append points (column 0 the bar index), merging while over the limit (the
        first point, and with ``final`` the last, always stay)."""
        need = self._count + rows.shape[0]
        if need > self._points.shape[0]:
            grown = np.empty((max(need, 2 * self._points.shape[0]), self._points.shape[1]))
            grown[:self._count] = self._points[:self._count]
            self._points = grown
        self._points[self._count:need] = rows
        self._count = need
        while self._count > self._limit:
            self._merge(final)

    def write(self, journal: EquityJournal, symbol: str) -> None:
        """Write the points not yet in the journal (all of them after a merge)."""
        if self._replace:
            journal.write_series(symbol, self.kind, self.bucket, self.points, replace=True)
            self._replace = False
        elif self._count > self._written:
            new = self._points[self._written:self._count, 1:]
            journal.write_series(symbol, self.kind, self.bucket, new, replace=False)
        self._written = self._count

    def _extremes(self, values: FloatArray, groups: IntArray, offset: int) -> IntArray:
        if not self._low and not self._high:
            return np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
        return group_extremes(groups, lowest=tuple(values[:, i - offset] for i in self._low),
                              highest=tuple(values[:, i - offset] for i in self._high))

    def _merge(self, final: bool) -> None:
        """Double the bucket size and merge the points of each pair of buckets."""
        self.bucket *= 2
        pts = self._points[:self._count]
        keep = self._extremes(pts, pts[:, 0].astype(np.int64) // self.bucket, offset=0)
        ends = [0, self._count - 1] if final else [0]
        keep = sorted_unique(np.concatenate([ends, keep])).astype(np.int64)
        kept = pts[keep]
        self._points[:kept.shape[0]] = kept
        self._count = kept.shape[0]
        self._replace = True


class EquityLog:
    """One symbol's recording: the kept bars, the two point series, the timestamps."""

    __slots__ = ("_done", "_due", "_marks", "_peak", "equity", "kept", "price",
                 "starting_equity", "symbol", "times")

    def __init__(self, symbol: str, marks: array[float], starting_equity: float,
                 equity_limit: int = EQUITY_LIMIT, price_limit: int = PRICE_LIMIT) -> None:
        self.symbol = symbol
        self.starting_equity = float(starting_equity)
        #: the bars marked since the last ``advance`` (the runner appends each)
        self.kept: list[Bar] = []
        #: every processed bar's open time (ms), for the final statistics
        self.times = array("q")
        self.equity = PointSeries("equity", EQUITY_COLUMNS, ("equity",),
                                  ("equity", "drawdown"), equity_limit)
        self.price = PointSeries("price", PRICE_COLUMNS, (), (), price_limit)
        self._marks = marks
        self._peak = self.starting_equity
        self._done = 0
        self._due = time.monotonic() + WRITE_INTERVAL_S

    def write_if_due(self, journal: EquityJournal) -> None:
        """``advance`` and ``write`` once a second, or when ``MAX_KEPT`` bars wait
        (called between bars: the work is a few vector operations over all of them)."""
        now = time.monotonic()
        if now >= self._due:
            self._due = now + WRITE_INTERVAL_S
            self.advance()
            self.write(journal)
        elif len(self.kept) >= MAX_KEPT:
            self.advance()  # bounds the bars kept; they are written when due

    def write(self, journal: EquityJournal) -> None:
        """Write both series' new points."""
        self.equity.write(journal, self.symbol)
        self.price.write(journal, self.symbol)

    def advance(self, final: bool = False) -> None:
        """Turn the kept bars into points (``final``: the last one is kept too)."""
        kept = self.kept
        m = len(kept)
        if m == 0:
            return
        start, end = self._done, self._done + m
        ts = np.fromiter(map(_TIME, kept), np.int64, m)
        bar_index = np.arange(start, end, dtype=np.int64)
        eq = np.frombuffer(self._marks[start:end], dtype=np.float64)
        peaks = np.maximum.accumulate(np.concatenate([[self._peak], eq]))[1:]
        self._peak = float(peaks[-1])
        rows = np.empty((m, 1 + len(EQUITY_COLUMNS)))
        rows[:, 0], rows[:, 1], rows[:, 2] = bar_index, ts, eq
        rows[:, 3] = 1.0 - eq / peaks
        first = start == 0
        raw = self.equity.plan(m)
        if raw < m:
            rest = self.equity.select(bar_index[raw:], rows[raw:, 1:],
                                      first=first and raw == 0, last=final)
            rows = rows[np.concatenate([np.arange(raw), raw + rest])]
        self.equity.add(rows, final)
        self._add_prices(kept, bar_index, ts, first=first, last=final)
        self.times.frombytes(ts.tobytes())
        kept.clear()
        self._done = end

    def _add_prices(self, kept: list[Bar], bar_index: IntArray, ts: IntArray, *,
                    first: bool, last: bool) -> None:
        price = self.price
        raw = price.plan(len(kept))
        rest = price.select(bar_index[raw:], np.empty((0, 0)), first=first and raw == 0,
                            last=last)
        chosen = kept[:raw]
        if rest.size:
            picked = itemgetter(*(raw + rest).tolist())(kept)
            chosen += [picked] if rest.size == 1 else list(picked)
        rows = np.empty((len(chosen), 1 + len(PRICE_COLUMNS)))
        rows[:raw, 0], rows[:raw, 1] = bar_index[:raw], ts[:raw]
        rows[raw:, 0], rows[raw:, 1] = bar_index[raw:][rest], ts[raw:][rest]
        for j, get in enumerate(_OHLC):  # one pass per field
            rows[:, 2 + j] = np.fromiter(map(get, chosen), np.float64, len(chosen))
        price.add(rows, last)

    def statistics(self, trades: Sequence[TradeRecord], open_since: int | None,
                   interval_ms: int) -> Statistics:
        """Every statistic of the whole run (after ``advance(final=True)``):
        ``open_since``, the entry time of a position still open."""
        eq = self.series(trades, open_since, interval_ms)
        pts = self.price.points
        closes = pts[[0, -1], PRICE_COLUMNS.index("close")] if pts.shape[0] else np.empty(0)
        return compute_statistics(eq, trades, closes)

    def series(self, trades: Sequence[TradeRecord], open_since: int | None,
               interval_ms: int) -> EquitySeries:
        """The whole series, one mark per bar, exposure from the trades' spans."""
        times = np.frombuffer(self.times, dtype=np.int64).copy()
        equity = np.frombuffer(self._marks[:times.size], dtype=np.float64).copy()
        spans: list[tuple[int, int | None]] = [(t.entry_timestamp, t.exit_timestamp)
                                               for t in trades]
        if open_since is not None:
            spans.append((open_since, None))
        return EquitySeries(times + interval_ms, equity, exposure_mask(times, spans),
                            self.starting_equity, interval_ms)


def exposure_mask(times: IntArray, spans: Sequence[tuple[int, int | None]]
                  ) -> npt.NDArray[np.bool_]:
    """True for each bar (by open time) inside a position's span ``[entry, exit]``
    (both bars included: the position was open during them); ``exit`` None: to the end."""
    n = int(times.size)
    counts = np.zeros(n + 1, dtype=np.int64)
    if spans:
        entries = np.array([a for a, _ in spans], dtype=np.int64)
        exits = np.array([0 if b is None else b for _, b in spans], dtype=np.int64)
        a = np.searchsorted(times, entries, side="left")
        b = np.searchsorted(times, exits, side="right")
        b[np.array([x is None for _, x in spans])] = n
        np.add.at(counts, a, 1)
        np.add.at(counts, b, -1)
    return np.cumsum(counts[:n]) > 0


def observed_interval(times: IntArray, default_ms: int) -> int:
    """The bar interval the statistics annualise by: the median spacing of the bars
    (robust to gaps), or ``default_ms`` (the configured interval) with fewer than two."""
    if times.size < 2:
        return default_ms
    return max(median_int(np.diff(times)), 1)
