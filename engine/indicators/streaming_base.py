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
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from engine.errors import IndicatorError, chained

if TYPE_CHECKING:
    from engine.indicators.registry import IndicatorSpec

Value = float | tuple[float, ...] | None

TA_ZERO = 1e-14  # TA-Lib's TA_IS_ZERO bound


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


class RunningMean:
    """TA-Lib's SMA running sum: S += x; out = S/n; S -= x[t-n+1]."""

    __slots__ = ("_n", "_sum", "_window")

    def __init__(self, n: int) -> None:
        self._n = n
        self._sum = 0.0
        self._window: deque[float] = deque(maxlen=n)

    def push(self, x: float) -> float | None:
        w = self._window
        w.append(x)
        s = self._sum + x
        if len(w) < self._n:
            self._sum = s
            return None
        self._sum = s - w[0]
        return s / self._n


class Extremes:
    """Highest and lowest of the last n values (monotonic deques, O(1) amortised)."""

    __slots__ = ("_highs", "_lows", "_n", "_t")

    def __init__(self, n: int) -> None:
        self._n = n
        self._t = -1
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()

    def push(self, high: float, low: float) -> tuple[float, float] | None:
        t = self._t = self._t + 1
        hs, ls = self._highs, self._lows
        while hs and hs[-1][1] <= high:
            hs.pop()
        hs.append((t, high))
        while ls and ls[-1][1] >= low:
            ls.pop()
        ls.append((t, low))
        oldest = t - self._n + 1
        if hs[0][0] < oldest:
            hs.popleft()
        if ls[0][0] < oldest:
            ls.popleft()
        if oldest < 0:
            return None
        return hs[0][1], ls[0][1]


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


