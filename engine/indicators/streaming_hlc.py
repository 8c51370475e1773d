"""Streaming versions of the bar-based indicators (ATR, STOCH, WILLR, CCI, ADX, MFI, OBV,
HIGHEST, LOWEST)."""

from __future__ import annotations

from collections import deque
from functools import reduce
from itertools import repeat
from operator import add, sub

from engine.indicators.registry import SPECS
from engine.indicators.streaming_base import (
    TA_ZERO,
    Extremes,
    RunningMean,
    Stream,
    TalibExtreme,
    true_range,
)


class AtrStream(Stream):
    """Streaming ATR: mean of the first `period` true ranges, then Wilder smoothing."""

    __slots__ = ("_atr", "_count", "_n", "_prev_close")
    spec = SPECS["atr"]

    def __init__(self, period: object = 14) -> None:
        super().__init__()
        self._n = self.spec.check_int("period", period)
        self._count = -1
        self._atr = 0.0
        self._prev_close = 0.0

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        tr = true_range(high, low, self._prev_close)
        self._prev_close = close
        n = self._n
        count = self._count = self._count + 1
        if count > n:
            a = self._atr * (n - 1)
            a += tr
            a /= n
        elif count == 0:
            return None
        else:
            a = self._atr + tr
            if count < n:
                self._atr = a
                return None
            a /= n
        self._atr = a
        self._value = a
        return a


class StochStream(Stream):
    """Streaming slow stochastic (fast %K over `fastk` bars, two SMAs)."""

    __slots__ = ("_d", "_extremes", "_k")
    spec = SPECS["stoch"]

    def __init__(self, fastk: object = 5, slowk: object = 3, slowd: object = 3) -> None:
        super().__init__()
        self._extremes = Extremes(self.spec.check_int("fastk", fastk))
        self._k = RunningMean(self.spec.check_int("slowk", slowk))
        self._d = RunningMean(self.spec.check_int("slowd", slowd))

    def update_hlcv(
        self, high: float, low: float, close: float, volume: float
    ) -> tuple[float, float] | None:
        ext = self._extremes.push(high, low)
        if ext is None:
            return None
        hh, ll = ext
        diff = (hh - ll) / 100.0
        fast = (close - ll) / diff if diff != 0.0 else 0.0
        slow_k = self._k.push(fast)
        if slow_k is None:
            return None
        slow_d = self._d.push(slow_k)
        if slow_d is None:
            return None
        v = (slow_k, slow_d)
        self._value = v
        return v


class WillrStream(Stream):
    """Streaming Williams' %R over the last `period` bars."""

    __slots__ = ("_extremes",)
    spec = SPECS["willr"]

    def __init__(self, period: object = 14) -> None:
        super().__init__()
        self._extremes = Extremes(self.spec.check_int("period", period))

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        ext = self._extremes.push(high, low)
        if ext is None:
            return None
        hh, ll = ext
        diff = (hh - ll) / -100.0
        v = (hh - close) / diff if diff != 0.0 else 0.0
        self._value = v
        return v


class CciStream(Stream):
    """Streaming CCI: TA-Lib's n-slot circular buffer summed in slot order.

    O(period) per bar — the mean absolute deviation needs every value of the
    window, as in TA-Lib itself.
    """

    __slots__ = ("_count", "_n", "_slots")
    spec = SPECS["cci"]

    def __init__(self, period: object = 14) -> None:
        super().__init__()
        self._n = self.spec.check_int("period", period)
        self._slots = [0.0] * self._n
        self._count = 0

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        n = self._n
        slots = self._slots
        tp = (high + low + close) / 3
        slots[self._count % n] = tp
        self._count += 1
        if self._count < n:
            return None
        avg = reduce(add, slots, 0.0) / n  # left to right, as TA-Lib (not builtin sum)
        md = reduce(add, map(abs, map(sub, slots, repeat(avg, n))), 0.0)
        dev = tp - avg
        v = dev / (0.015 * (md / n)) if dev != 0.0 and md != 0.0 else 0.0
        self._value = v
        return v


class AdxStream(Stream):
    """Streaming ADX with TA-Lib's phases: sums to bar n-1, DX sum to 2n-1, then smoothing."""

    __slots__ = ("_adx", "_count", "_mdm", "_n", "_pc", "_pdm", "_ph", "_pl", "_sum_dx", "_tr")
    spec = SPECS["adx"]

    def __init__(self, period: object = 14) -> None:
        super().__init__()
        self._n = self.spec.check_int("period", period)
        self._count = -1
        self._ph = self._pl = self._pc = 0.0
        self._mdm = self._pdm = self._tr = 0.0
        self._sum_dx = 0.0
        self._adx = 0.0

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        n = self._n
        diff_p = high - self._ph
        diff_m = self._pl - low
        r = true_range(high, low, self._pc)
        self._ph, self._pl, self._pc = high, low, close
        count = self._count = self._count + 1
        mdm, pdm, tr = self._mdm, self._pdm, self._tr
        if count >= n:  # Wilder smoothing; before it, plain sums
            mdm -= mdm / n
            pdm -= pdm / n
            tr = tr - tr / n + r
        elif count == 0:
            return None
        else:
            tr += r
        if diff_m > 0 and diff_p < diff_m:
            mdm += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            pdm += diff_p
        self._mdm, self._pdm, self._tr = mdm, pdm, tr
        if count < n:
            return None
        dx = _dx(mdm, pdm, tr)
        if count >= 2 * n:
            if dx is None:
                return self._adx
            a = self._adx = (self._adx * (n - 1) + dx) / n
            self._value = a
            return a
        if dx is not None:
            self._sum_dx += dx
        if count < 2 * n - 1:
            return None
        a = self._adx = self._sum_dx / n
        self._value = a
        return a


def _dx(mdm: float, pdm: float, tr: float) -> float | None:
    """TA-Lib's DX, or None when a zero test skips it."""
    if -TA_ZERO < tr < TA_ZERO:
        return None
    minus_di = 100.0 * (mdm / tr)
    plus_di = 100.0 * (pdm / tr)
    total = minus_di + plus_di
    if -TA_ZERO < total < TA_ZERO:
        return None
    return 100.0 * (abs(minus_di - plus_di) / total)


class MfiStream(Stream):
    """Streaming MFI: n-slot buffer of (positive, negative) money flows."""

    __slots__ = ("_count", "_flows", "_n", "_neg", "_pos", "_prev_tp")
    spec = SPECS["mfi"]

    def __init__(self, period: object = 14) -> None:
        super().__init__()
        self._n = self.spec.check_int("period", period)
        self._flows: deque[tuple[float, float]] = deque()
        self._count = -1
        self._pos = self._neg = 0.0
        self._prev_tp = 0.0

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        tp = (high + low + close) / 3.0
        move = tp - self._prev_tp
        self._prev_tp = tp
        count = self._count = self._count + 1
        if count == 0:
            return None
        pos, neg = self._pos, self._neg
        flows = self._flows
        if count > self._n:
            old_pos, old_neg = flows.popleft()
            pos -= old_pos
            neg -= old_neg
        flow = tp * volume
        if move < 0:
            neg += flow
            flows.append((0.0, flow))
        elif move > 0:
            pos += flow
            flows.append((flow, 0.0))
        else:
            flows.append((0.0, 0.0))
        self._pos, self._neg = pos, neg
        if count < self._n:
            return None
        total = pos + neg
        v = 0.0 if total < 1.0 else 100.0 * (pos / total)
        self._value = v
        return v


class ObvStream(Stream):
    """Streaming OBV, seeded with the first bar's volume."""

    __slots__ = ("_obv", "_prev")
    spec = SPECS["obv"]

    def __init__(self) -> None:
        super().__init__()
        self._prev: float | None = None
        self._obv = 0.0

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float:
        prev = self._prev
        if prev is None:
            obv = volume
        elif close > prev:
            obv = self._obv + volume
        elif close < prev:
            obv = self._obv - volume
        else:
            obv = self._obv
        self._prev = close
        self._obv = obv
        self._value = obv
        return obv


class HighestStream(Stream):
    """Streaming TA-Lib MAX of the last `period` highs (O(1) amortised)."""

    __slots__ = ("_extreme",)
    spec = SPECS["highest"]

    def __init__(self, period: object = 30) -> None:
        super().__init__()
        self._extreme = TalibExtreme(self.spec.check_int("period", period), is_max=True)

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        v = self._extreme.push(high)
        if v is not None:
            self._value = v
        return v


class LowestStream(Stream):
    """Streaming TA-Lib MIN of the last `period` lows (O(1) amortised)."""

    __slots__ = ("_extreme",)
    spec = SPECS["lowest"]

    def __init__(self, period: object = 30) -> None:
        super().__init__()
        self._extreme = TalibExtreme(self.spec.check_int("period", period), is_max=False)

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        v = self._extreme.push(low)
        if v is not None:
            self._value = v
        return v
