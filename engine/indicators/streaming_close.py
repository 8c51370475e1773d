"""Streaming versions of the close-only indicators (SMA, EMA, WMA, RSI, MACD, BBANDS, ROC, MOM,
STDDEV)."""

from __future__ import annotations

import math

from engine.indicators.registry import SPECS
from engine.indicators.streaming_base import TA_ZERO, RunningMean, Stream, Window, seq_sum

# --- close-only ------------------------------------------------------------


class SmaStream(Stream):
    """Streaming SMA (TA-Lib order); first value after `period` bars."""

    __slots__ = ("_mean",)
    spec = SPECS["sma"]

    def __init__(self, period: object) -> None:
        super().__init__()
        self._mean = RunningMean(self.spec.check_int("period", period))

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        v = self._mean.push(close)
        if v is not None:
            self._value = v
        return v


class EmaStream(Stream):
    """Streaming EMA: seeded with the SMA of the first `period` closes."""

    __slots__ = ("_count", "_k", "_n", "_prev", "_sum")
    spec = SPECS["ema"]

    def __init__(self, period: object) -> None:
        super().__init__()
        self._n = self.spec.check_int("period", period)
        self._k = 2.0 / (self._n + 1)
        self._count = 0
        self._sum = 0.0
        self._prev = 0.0

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        if self._count >= self._n:
            prev = self._prev
            prev = ((close - prev) * self._k) + prev
        else:
            self._count += 1
            self._sum += close
            if self._count < self._n:
                return None
            prev = self._sum / self._n
        self._prev = prev
        self._value = prev
        return prev


class WmaStream(Stream):
    """Streaming WMA with TA-Lib's running sums (and their drift)."""

    __slots__ = ("_div", "_n", "_psub", "_psum", "_trailing", "_window")
    spec = SPECS["wma"]

    def __init__(self, period: object) -> None:
        super().__init__()
        n = self._n = self.spec.check_int("period", period)
        self._div = float((n * (n + 1)) >> 1)
        self._psub = 0.0
        self._psum = 0.0
        self._trailing = 0.0
        self._window = Window(n)

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        if self._n == 1:  # TA-Lib copies the input for period 1
            self._value = close
            return close
        w = self._window
        if not w.push(close):
            self._psub += close
            self._psum += close * w.count
            return None
        psub = self._psub + close
        psub -= self._trailing
        psum = self._psum + close * self._n
        self._trailing = w.oldest()
        v = psum / self._div
        self._psum = psum - psub
        self._psub = psub
        self._value = v
        return v


class RsiStream(Stream):
    """Streaming RSI (Wilder): first value on bar `period` (0-based)."""

    __slots__ = ("_count", "_gain", "_loss", "_n", "_prev")
    spec = SPECS["rsi"]

    def __init__(self, period: object = 14) -> None:
        super().__init__()
        self._n = self.spec.check_int("period", period)
        self._count = -1
        self._gain = 0.0
        self._loss = 0.0
        self._prev = 0.0

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        n = self._n
        d = close - self._prev
        self._prev = close
        count = self._count = self._count + 1
        if count > n:
            gain = self._gain * (n - 1)
            loss = self._loss * (n - 1)
            if d < 0:
                loss -= d
            else:
                gain += d
            gain /= n
            loss /= n
        elif count == 0:
            return None
        else:
            gain, loss = self._gain, self._loss
            if d < 0:
                loss -= d
            else:
                gain += d
            if count < n:
                self._gain, self._loss = gain, loss
                return None
            loss /= n
            gain /= n
        self._gain, self._loss = gain, loss
        total = gain + loss
        v = 0.0 if -TA_ZERO < total < TA_ZERO else 100.0 * (gain / total)
        self._value = v
        return v


class MacdStream(Stream):
    """Streaming MACD with TA-Lib's seeding (both EMAs seeded on bar slow-1)."""

    __slots__ = (
        "_fast",
        "_fast_ema",
        "_kf",
        "_ks",
        "_ksig",
        "_sig",
        "_sig_count",
        "_sig_sum",
        "_signal_ema",
        "_slow",
        "_slow_ema",
        "_warm",
    )
    spec = SPECS["macd"]

    def __init__(self, fast: object = 12, slow: object = 26, signal: object = 9) -> None:
        super().__init__()
        f = self.spec.check_int("fast", fast)
        s = self.spec.check_int("slow", slow)
        self._sig = self.spec.check_int("signal", signal)
        if s < f:
            f, s = s, f
        self._fast, self._slow = f, s
        self._kf, self._ks = 2.0 / (f + 1), 2.0 / (s + 1)
        self._ksig = 2.0 / (self._sig + 1)
        self._warm: list[float] | None = []
        self._fast_ema = self._slow_ema = 0.0
        self._sig_count = 0
        self._sig_sum = 0.0
        self._signal_ema = 0.0

    def update_hlcv(
        self, high: float, low: float, close: float, volume: float
    ) -> tuple[float, float, float] | None:
        warm = self._warm
        if warm is None:
            fe = self._fast_ema
            fe = ((close - fe) * self._kf) + fe
            se = self._slow_ema
            se = ((close - se) * self._ks) + se
            self._fast_ema, self._slow_ema = fe, se
        else:
            warm.append(close)
            if len(warm) < self._slow:
                return None
            fe = self._fast_ema = seq_sum(warm[self._slow - self._fast :]) / self._fast
            se = self._slow_ema = seq_sum(warm) / self._slow
            self._warm = None
        line = fe - se
        if self._sig_count >= self._sig:
            sig = self._signal_ema
            sig = ((line - sig) * self._ksig) + sig
        else:
            self._sig_count += 1
            self._sig_sum += line
            if self._sig_count < self._sig:
                return None
            sig = self._sig_sum / self._sig
        self._signal_ema = sig
        v = (line, sig, line - sig)
        self._value = v
        return v


class BollingerStream(Stream):
    """Streaming Bollinger Bands (SMA middle, population std, TA-Lib's sums)."""

    __slots__ = ("_down", "_n", "_sq", "_sum", "_up", "_window")
    spec = SPECS["bollinger"]

    def __init__(self, period: object = 20, nbdev_up: object = 2.0,
                 nbdev_down: object = 2.0) -> None:
        super().__init__()
        self._n = self.spec.check_int("period", period)
        self._up = self.spec.check_float("nbdev_up", nbdev_up)
        self._down = self.spec.check_float("nbdev_down", nbdev_down)
        self._sum = 0.0
        self._sq = 0.0
        self._window = Window(self._n)

    def update_hlcv(
        self, high: float, low: float, close: float, volume: float
    ) -> tuple[float, float, float] | None:
        w = self._window
        n = self._n
        s = self._sum + close
        q = self._sq + close * close
        if not w.push(close):
            self._sum, self._sq = s, q
            return None
        old = w.oldest()
        middle = s / n
        m2 = q / n
        self._sum = s - old
        self._sq = q - old * old
        m2 -= middle * middle
        sd = 0.0 if m2 < TA_ZERO else math.sqrt(m2)
        v = (middle + self._up * sd, middle, middle - self._down * sd)
        self._value = v
        return v


class RocStream(Stream):
    """Streaming ROC: ((x/x[t-period]) - 1)*100, 0.0 when x[t-period] is 0."""

    __slots__ = ("_window",)
    spec = SPECS["roc"]

    def __init__(self, period: object = 10) -> None:
        super().__init__()
        n = self.spec.check_int("period", period)
        self._window = Window(n + 1)  # close and the n before it

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        w = self._window
        if not w.push(close):
            return None
        old = w.oldest()
        v = ((close / old) - 1.0) * 100.0 if old != 0.0 else 0.0
        self._value = v
        return v


class MomStream(Stream):
    """Streaming momentum: x - x[t-period]."""

    __slots__ = ("_window",)
    spec = SPECS["mom"]

    def __init__(self, period: object = 10) -> None:
        super().__init__()
        n = self.spec.check_int("period", period)
        self._window = Window(n + 1)  # close and the n before it

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        w = self._window
        if not w.push(close):
            return None
        v = close - w.oldest()
        self._value = v
        return v


class StddevStream(Stream):
    """Streaming TA-Lib STDDEV: population std of the last `period` closes times `nbdev`."""

    __slots__ = ("_dev", "_n", "_sq", "_sum", "_window")
    spec = SPECS["stddev"]

    def __init__(self, period: object = 5, nbdev: object = 1.0) -> None:
        super().__init__()
        self._n = self.spec.check_int("period", period)
        self._dev = self.spec.check_float("nbdev", nbdev)
        self._sum = 0.0
        self._sq = 0.0
        self._window = Window(self._n)

    def update_hlcv(self, high: float, low: float, close: float, volume: float) -> float | None:
        w = self._window
        n = self._n
        s = self._sum + close
        q = self._sq + close * close
        if not w.push(close):
            self._sum, self._sq = s, q
            return None
        old = w.oldest()
        mean = s / n
        var = q / n
        self._sum = s - old
        self._sq = q - old * old
        var -= mean * mean
        v = 0.0 if var < TA_ZERO else math.sqrt(var) * self._dev
        self._value = v
        return v
