"""The report's charts as inline SVG text: price (candles or a downsampled line) with
the trades, equity with buy & hold, and drawdown — drawn in Python, so the file needs
no plotting library and shows its charts even with scripts off.

Every chart of a symbol shares one time axis (``TimeAxis``). Long series are drawn
through ``downsample``: candlesticks up to ``CANDLE_LIMIT`` bars, beyond that the close
(min/max-preserving) over the bucket's high-low band; no line has more than
``LINE_POINTS`` points. Trade markers are never downsampled: one entry and one exit
marker per trade, ``data-trade`` = the trade's index in the trade list; the stop and
target levels are one path per kind (``data-count`` = how many levels it draws).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

import numpy as np
import numpy.typing as npt

from engine.report.downsample import bucket_ranges, minmax_indices
from engine.report.model import Bars
from engine.report.stats import EquitySeries, TradeRecord, drawdown_fraction

CANDLE_LIMIT = 5_000
LINE_POINTS = 4_000
WIDTH = 1100
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 10, 22

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """Maps ms timestamps onto the plot's x range [LEFT, WIDTH - RIGHT]."""

    t0: int
    t1: int

    def x(self, t: npt.ArrayLike) -> FloatArray:
        span = max(self.t1 - self.t0, 1)
        return LEFT + (np.asarray(t, dtype=np.float64) - self.t0) / span * (WIDTH - LEFT - RIGHT)


@dataclass(frozen=True, slots=True)
class ValueAxis:
    """Maps values onto [TOP, height - BOTTOM] (higher values up)."""

    lo: float
    hi: float
    height: int

    @staticmethod
    def around(lo: float, hi: float, height: int, pad: float = 0.05) -> ValueAxis:
        if not hi > lo:
            lo, hi = lo - max(abs(lo) * 0.01, 0.5), hi + max(abs(hi) * 0.01, 0.5)
        margin = (hi - lo) * pad
        return ValueAxis(lo - margin, hi + margin, height)

    def y(self, v: npt.ArrayLike) -> FloatArray:
        frac = (np.asarray(v, dtype=np.float64) - self.lo) / (self.hi - self.lo)
        return self.height - BOTTOM - frac * (self.height - TOP - BOTTOM)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering [lo, hi]."""
    raw = (hi - lo) / count
    if not raw > 0 or not math.isfinite(raw):
        return [lo]
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _num(v: float) -> str:
    return f"{v:.1f}"


def _points(xs: FloatArray, ys: FloatArray) -> str:
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs.tolist(), ys.tolist(), strict=True))


def _label(v: float) -> str:
    return f"{v:,.6g}"


def _time_label(ms: int, span_ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    return dt.strftime("%Y-%m-%d" if span_ms > 3 * 86_400_000 else "%m-%d %H:%M")


def _frame(kind: str, axis: TimeAxis, va: ValueAxis, body: str, unit: str = "") -> str:
    """The chart's svg: grid, axis labels, the clipped plot holding ``body``, a cursor."""
    h, pw, ph = va.height, WIDTH - LEFT - RIGHT, va.height - TOP - BOTTOM
    grid = []
    for v in nice_ticks(va.lo, va.hi):
        y = float(va.y(v))
        grid.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y)}" y2="{_num(y)}"/>'
                    f'<text class="ylab" x="{LEFT - 6}" y="{_num(y + 4)}">{_label(v)}{unit}</text>')
    span = axis.t1 - axis.t0
    for i in range(6):
        t = axis.t0 + span * i // 5
        x = float(axis.x(t))
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        grid.append(f'<text class="xlab" text-anchor="{anchor}" x="{_num(x)}" '
                    f'y="{h - 6}">{_time_label(t, span)}</text>')
    return (
        f'<svg class="chart chart-{kind}" viewBox="0 0 {WIDTH} {h}" data-t0="{axis.t0}" '
        f'data-t1="{axis.t1}" data-left="{LEFT}" data-right="{WIDTH - RIGHT}">'
        f'<g class="grid">{"".join(grid)}</g>'
        f'<svg class="plot" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" '
        f'viewBox="{LEFT} {TOP} {pw} {ph}" overflow="hidden">{body}</svg>'
        f'<line class="cursor" x1="-10" x2="-10" y1="{TOP}" y2="{h - BOTTOM}"/>'
        f'<text class="cursor-label" x="{LEFT + 4}" y="{TOP + 12}"></text></svg>'
    )


def _candles(bars: Bars, axis: TimeAxis, va: ValueAxis) -> str:
    n = len(bars)
    x = axis.x(bars.timestamps)
    step = (WIDTH - LEFT - RIGHT) / max(n, 1)
    w = max(min(step * 0.7, 12.0), 0.6)
    yo, yh, yl, yc = va.y(bars.open), va.y(bars.high), va.y(bars.low), va.y(bars.close)
    wick = "".join(f"M{a:.1f} {b:.1f}V{c:.1f}" for a, b, c in
                   zip(x.tolist(), yh.tolist(), yl.tolist(), strict=True))
    up = bars.close >= bars.open
    bodies = {True: [], False: []}  # type: dict[bool, list[str]]
    for xi, o, c, u in zip(x.tolist(), yo.tolist(), yc.tolist(), up.tolist(), strict=True):
        top, bot = min(o, c), max(o, c)
        bodies[u].append(f"M{xi - w / 2:.1f} {top:.1f}h{w:.1f}V{max(bot, top + 0.5):.1f}"
                         f"h{-w:.1f}z")
    return (f'<g class="candles" data-count="{n}"><path class="wick" d="{wick}"/>'
            f'<path class="up" d="{"".join(bodies[True])}"/>'
            f'<path class="down" d="{"".join(bodies[False])}"/></g>')


def _price_line(bars: Bars, axis: TimeAxis, va: ValueAxis) -> str:
    idx = minmax_indices(bars.close, LINE_POINTS)
    starts, hi, lo = bucket_ranges(bars.high, bars.low, LINE_POINTS)
    bx = axis.x(bars.timestamps[starts])
    band = (f"M{_points(bx, va.y(hi))}L{_points(bx[::-1], va.y(lo[::-1]))}Z"
            if starts.size else "")
    line = _points(axis.x(bars.timestamps[idx]), va.y(bars.close[idx]))
    return (f'<g class="price-line" data-points="{idx.size}" data-bars="{len(bars)}">'
            f'<path class="band" d="{band}"/><path class="close" d="M{line}"/></g>')


def _trade_marks(trades: Sequence[TradeRecord], axis: TimeAxis, va: ValueAxis) -> str:
    links, entries, exits = [], [], []
    levels: dict[str, list[str]] = {"stop": [], "target": []}
    for i, t in enumerate(trades):
        x0, x1 = float(axis.x(t.entry_timestamp)), float(axis.x(t.exit_timestamp))
        y0, y1 = float(va.y(t.entry_price)), float(va.y(t.exit_price))
        links.append(f"M{x0:.1f} {y0:.1f}L{x1:.1f} {y1:.1f}")
        for kind, level in (("stop", t.stop_loss), ("target", t.take_profit)):
            if level is not None:
                levels[kind].append(f"M{x0:.1f} {float(va.y(level)):.1f}H{max(x1, x0 + 2):.1f}")
        tip = "M{:.1f} {:.1f}l-5 9h10z" if t.side == "long" else "M{:.1f} {:.1f}l-5 -9h10z"
        entries.append(f'<path class="marker entry {t.side}" data-trade="{i}" '
                       f'd="{tip.format(x0, y0)}"/>')
        result = "win" if t.pnl > 0 else "loss" if t.pnl < 0 else "flat"
        exits.append(f'<circle class="marker exit {result}" data-trade="{i}" cx="{x1:.1f}" '
                     f'cy="{y1:.1f}" r="4"/>')
    # one path per kind of level (from entry to exit): thousands of lines cost parse time
    paths = "".join(f'<path class="level {kind}" data-count="{len(d)}" d="{"".join(d)}"/>'
                    for kind, d in levels.items())
    return (f'<g class="trades" data-count="{len(trades)}"><path class="link" '
            f'd="{"".join(links)}"/>{paths}{"".join(entries)}{"".join(exits)}</g>')


def price_chart(bars: Bars, trades: Sequence[TradeRecord], axis: TimeAxis,
                height: int = 340, sampled: bool = False) -> str:
    """Candles (up to ``CANDLE_LIMIT`` bars, unless the bars are a ``sampled`` subset)
    or the close line, with the trades."""
    prices = [float(bars.low.min()), float(bars.high.max())] if len(bars) else [1.0, 1.0]
    for t in trades:
        prices += [t.entry_price, t.exit_price]
    va = ValueAxis.around(min(prices), max(prices), height)
    candles = len(bars) <= CANDLE_LIMIT and not sampled
    body = _candles(bars, axis, va) if candles else _price_line(bars, axis, va)
    return _frame("price", axis, va, body + _trade_marks(trades, axis, va))


def _marks(eq: EquitySeries) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """The equity curve with its starting point (one interval before the first mark)."""
    t = np.concatenate([eq.timestamps[:1] - eq.interval_ms, eq.timestamps])
    return t, np.concatenate([[eq.starting_equity], eq.equity])


def equity_chart(eq: EquitySeries, bars: Bars, axis: TimeAxis, height: int = 240) -> str:
    """Marked equity and buy & hold (the starting equity in the symbol at its first close)."""
    t, e = _marks(eq)
    idx = minmax_indices(e, LINE_POINTS)
    hold = np.empty(0)
    hold_t = np.empty(0, dtype=np.int64)
    if len(bars):
        bidx = minmax_indices(bars.close, LINE_POINTS)
        hold = eq.starting_equity * bars.close[bidx] / bars.close[0]
        hold_t = bars.timestamps[bidx]
    values = np.concatenate([e, hold])
    va = ValueAxis.around(float(values.min()), float(values.max()), height)
    start_y = float(va.y(eq.starting_equity))
    body = (f'<line class="start" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{start_y:.1f}" '
            f'y2="{start_y:.1f}"/>'
            f'<path class="buyhold" data-points="{hold.size}" '
            f'd="M{_points(axis.x(hold_t), va.y(hold))}"/>'
            f'<path class="equity" data-points="{idx.size}" '
            f'd="M{_points(axis.x(t[idx]), va.y(e[idx]))}"/>')
    return _frame("equity", axis, va, body)


def drawdown_chart(eq: EquitySeries, axis: TimeAxis, height: int = 150) -> str:
    """The drawdown of marked equity from its running peak, in percent (an area below 0)."""
    t, _ = _marks(eq)
    dd = -100.0 * np.concatenate([[0.0], drawdown_fraction(eq)])
    idx = minmax_indices(dd, LINE_POINTS)  # keeps each bucket's deepest point
    va = ValueAxis.around(min(float(dd.min()), -1e-9), 0.0, height, pad=0.03)
    xs, y0 = axis.x(t[idx]), float(va.y(0.0))
    area = f"M{xs[0]:.1f} {y0:.1f}L{_points(xs, va.y(dd[idx]))}L{xs[-1]:.1f} {y0:.1f}Z"
    return _frame("drawdown", axis, va,
                  f'<path class="drawdown" data-points="{idx.size}" d="{area}"/>', unit=" %")


def time_axis(bars: Bars, eq: EquitySeries) -> TimeAxis:
    """One axis for all of a symbol's charts: from the first bar (or the starting
    equity) to the last bar (or the last mark)."""
    times = np.concatenate([bars.timestamps[:1], bars.timestamps[-1:],
                            eq.timestamps[:1] - eq.interval_ms, eq.timestamps[-1:]])
    if not times.size:
        return TimeAxis(0, 1)
    return TimeAxis(int(times.min()), int(times.max()))


def legend(items: Sequence[tuple[str, str]]) -> str:
    """A row of coloured swatches: (css class, label)."""
    return "".join(f'<span class="key {cls}">{escape(text)}</span>' for cls, text in items)
