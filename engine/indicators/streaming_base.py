"""Streaming indicators: the common base class and shared running-state helpers.

See `engine.indicators.streaming` for the interface. Everything here uses plain
float arithmetic in TA-Lib's order, so results are bit-identical to TA-Lib.

The streams' constructors type their parameters ``object``: the spec's checks
(``check_int``/``check_float``) validate them and name the parameter at fault.
Compiled (engine/native.py), a narrower annotation would reject a wrong type
first, with a bare TypeError.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Final, Protocol

import numpy as np

from engine.errors import IndicatorError, chained

if TYPE_CHECKING:
    from engine.indicators.registry import IndicatorSpec

Value = float | tuple[float, ...] | None

# TA-Lib's TA_IS_ZERO bound; Final, so the compiled streams inline it (else a dict lookup)
TA_ZERO: Final = 1e-14


class BarLike(Protocol):
    """Anything carrying a bar's prices and volume (e.g. engine.market.bar.Bar)."""

    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...


class Stream:
    """Base class: validation of `update` input and the `value` property.

    Each subclass names its registry entry as the class attribute ``spec``; its
    name and inputs come from there.
    """

    __slots__ = ("_value",)
    spec: ClassVar[IndicatorSpec]

    def __init__(self) -> None:
        self._value: Value = None

    @property
    def name(self) -> str:
        """The registry name of the indicator."""
        return self.spec.name

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input fields update() reads, from the registry."""
        return self.spec.inputs

    @property
    def value(self) -> Value:
        """The last output, or None while warming up."""
        return self._value

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> Value:
        """Feed one bar's raw (finite) values; return the new output or None."""
        raise NotImplementedError

    def update(self, bar_or_close: BarLike | float) -> Value:
        """Feed one bar (or a close, for close-only indicators); validates the input."""
        if isinstance(bar_or_close, int | float | np.integer | np.floating):
            if self.inputs != ("close",):
                raise IndicatorError(
                    f"{self.name}: update() needs a bar with {', '.join(self.inputs)}, "
                    f"got the bare number {bar_or_close!r}"
                )
            x = _finite(self.name, "close", bar_or_close)
            return self.update_hlcv(x, x, x, 0.0)
        values = {f: _finite(self.name, f, _field(self, bar_or_close, f)) for f in self.inputs}
        close = values.get("close", 0.0)  # unused by the indicators that lack it
        return self.update_hlcv(
            values.get("high", close), values.get("low", close), close, values.get("volume", 0.0)
        )


def _field(stream: Stream, bar: object, field: str) -> object:
    try:
        return getattr(bar, field)
    except AttributeError:
        raise chained(IndicatorError(
            f"{stream.name}: update() needs a bar with .{field} (inputs: "
            f"{', '.join(stream.inputs)}), got {type(bar).__name__}"
        ), None) from None


def _finite(name: str, field: str, value: object) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        error = IndicatorError(f"{name}: '{field}' must be a number, got {value!r}")
        raise chained(error, None) from None
    if not math.isfinite(x):
        raise IndicatorError(f"{name}: '{field}' must be finite, got {x!r}")
    return x


class Window:
    """The last ``n`` floats of a stream, in a list written round: ``push`` stores a
    value and says whether n are in; ``oldest`` is then the earliest of them, the one
    the next push replaces. Compiled, a list is indexed natively, where a deque's
    append, len and [0] were three Python calls: with the list-based monotonic queues
    below, on_bar 29.2k -> 28.2k CPU instructions a bar with
    strategies/sma_crossover.lua, 54.5k -> 51.9k with bench/five_indicators.lua; WMA,
    Bollinger, ROC, MOM and STDDEV on it too: 141.9k -> 140.0k with
    tests/data/all_indicators.lua (callgrind, 12k minus 4k bars)."""

    __slots__ = ("_items", "_n", "_next", "count")

    def __init__(self, n: int) -> None:
        self._n = n
        self._items = [0.0] * n
        self._next = 0  # the slot of the next value (of the oldest, once n are in)
        self.count = 0  # values pushed, up to n

    def push(self, x: float) -> bool:
        """Store ``x``; True once the window holds n values."""
        i = self._next
        self._items[i] = x
        i += 1
        self._next = 0 if i == self._n else i
        if self.count < self._n:
            self.count += 1
            return self.count == self._n
        return True

    def oldest(self) -> float:
        """The earliest of the n values in the window (once it is full)."""
        return self._items[self._next]


class RunningMean:
    """TA-Lib's SMA running sum: S += x; out = S/n; S -= x[t-n+1]."""

    __slots__ = ("_n", "_sum", "_window")

    def __init__(self, n: int) -> None:
        self._n = n
        self._sum = 0.0
        self._window = Window(n)

    def push(self, x: float) -> float | None:
        """Take the next value; the mean of the last n, or None before n values."""
        s = self._sum + x
        if not self._window.push(x):
            self._sum = s
            return None
        self._sum = s - self._window.oldest()  # it leaves with the next value
        return s / self._n


#: Stale entries a monotonic queue keeps before compacting (see _Monotonic).
_COMPACT: Final = 64


class _Monotonic:
    """The extreme (max or min) of a sliding window, as a monotonic queue of
    (time, value): O(1) amortised. Each value is more extreme than every later one
    (for the max, a later value at least as high evicts it). The queue is two lists
    read from ``_head`` (compiled, list operations are native; a deque's are Python
    calls), compacted once half of them lies before the head."""

    __slots__ = ("_head", "_max", "_times", "_values")

    def __init__(self, keep_max: bool) -> None:
        self._max = keep_max
        self._times: list[int] = []
        self._values: list[float] = []
        self._head = 0

    def push(self, t: int, x: float, oldest: int) -> float:
        """Add ``x`` at time ``t``; the extreme of the values from time ``oldest`` on
        (each push moves the window by one, so at most one value falls out)."""
        times, values, head = self._times, self._values, self._head
        if self._max:
            while len(values) > head and values[-1] <= x:
                values.pop()
                times.pop()
        else:
            while len(values) > head and values[-1] >= x:
                values.pop()
                times.pop()
        values.append(x)
        times.append(t)
        if times[head] < oldest:
            head += 1
            if head >= _COMPACT and 2 * head >= len(values):
                del values[:head]
                del times[:head]
                head = 0
            self._head = head
        return values[head]


class Extremes:
    """Highest and lowest of the last n values (two monotonic queues)."""

    __slots__ = ("_highs", "_lows", "_n", "_t")

    def __init__(self, n: int) -> None:
        self._n = n
        self._t = -1
        self._highs = _Monotonic(keep_max=True)
        self._lows = _Monotonic(keep_max=False)

    def push(self, high: float, low: float) -> tuple[float, float] | None:
        """Take the next bar's high and low; (highest, lowest) of the last n, or None
        before n bars."""
        t = self._t = self._t + 1
        oldest = t - self._n + 1
        highest = self._highs.push(t, high, oldest)
        lowest = self._lows.push(t, low, oldest)
        if oldest < 0:
            return None
        return highest, lowest


class TalibExtreme:
    """TA-Lib MAX (or MIN) of the last n values, reported at TA-Lib's tracked index.

    TA-Lib keeps the index h of the extreme: a new value at least as extreme as
    x[h] takes over, and when h leaves the window the window is rescanned for
    its first strict extreme. A monotonic deque that keeps ties (so its front is
    that first extreme) replaces the rescan: O(1) amortised, same index — which
    matters for the sign of a zero extreme only.
    """

    __slots__ = ("_at", "_best", "_is_max", "_n", "_t", "_window")

    def __init__(self, n: int, is_max: bool) -> None:
        self._n, self._is_max = n, is_max
        self._t = -1
        self._at, self._best = -1, 0.0
        self._window: deque[tuple[int, float]] = deque()

    def push(self, x: float) -> float | None:
        """Take the next value; the extreme of the last n, or None before n values."""
        t = self._t = self._t + 1
        w = self._window
        if self._is_max:
            while w and w[-1][1] < x:
                w.pop()
        else:
            while w and w[-1][1] > x:
                w.pop()
        w.append((t, x))
        oldest = t - self._n + 1
        if w[0][0] < oldest:
            w.popleft()
        if oldest < 0:
            return None
        if self._at < oldest:
            self._at, self._best = w[0]
        elif (x >= self._best) if self._is_max else (x <= self._best):
            self._at, self._best = t, x
        return self._best


def true_range(high: float, low: float, prev_close: float) -> float:
    greatest = high - low
    v = abs(prev_close - high)
    if v > greatest:
        greatest = v
    v = abs(prev_close - low)
    if v > greatest:
        greatest = v
    return greatest


def seq_sum(values: Sequence[float]) -> float:
    """0.0 + v0 + v1 + ... left to right (not builtin sum: 3.12+ compensates)."""
    total = 0.0
    for v in values:
        total += v
    return total


