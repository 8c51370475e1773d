"""Batch range, trend and volume indicators: ATR, ADX, OBV (TA-Lib 0.7.1 semantics)."""

from __future__ import annotations

import numpy as np

from engine.indicators import _kernels as k
from engine.indicators._kernels import BoolArray, FloatArray
from engine.indicators._validate import as_series, same_length
from engine.indicators.batch_momentum import hlc
from engine.indicators.registry import SPECS


def atr(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Average True Range (TA-Lib ATR), period in [1, 100000], lookback period.

    True range from bar 1: max(high-low, |prev close-high|, |prev close-low|).
    Seed at bar `period`: mean of TR[1..period]; then a = (a*(period-1) + TR)/period.
    Period 1 returns the true range itself (TA-Lib's TRANGE).
    """
    h, lo, c = hlc("atr", high, low, close)
    n = SPECS["atr"].check_int("period", period)
    out = k.head_nan(len(c), n)
    if len(c) > n:
        tr = k.true_range(h, lo, c)
        if n == 1:
            out[1:] = tr
        else:
            seed = k.seq_sum(tr[:n]) / n
            out[n] = seed
            k.smooth(tr[n:], (n - 1) / n, seed, out=out[n + 1 :])
    return out


def _directional_moves(
    h: FloatArray, lo: FloatArray, buffers: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """TA-Lib's +DM and -DM for bars 1.. (a tie gives neither).

    -DM = down when down > 0 and up < down, i.e. down > max(up, 0); +DM = up when
    up > 0 and up > down, i.e. up > max(down, 0). Multiplying by the mask is exact.
    `buffers` (4 rows of len-1 values) avoids allocating; rows 0 and 1 are returned.
    """
    size = len(h) - 1
    plus, minus, up, down = np.empty((4, size)) if buffers is None else buffers[:, :size]
    np.subtract(h[1:], h[:-1], out=up)
    np.subtract(lo[:-1], lo[1:], out=down)
    mask = np.greater(down, np.maximum(up, 0.0, out=minus))
    np.multiply(down, mask, out=minus)
    np.greater(up, np.maximum(down, 0.0, out=plus), out=mask)
    np.multiply(up, mask, out=plus)
    return plus, minus


def adx(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Average Directional Index (TA-Lib ADX), period in [2, 100000], lookback 2*period-1.

    +DM/-DM and TR summed over bars 1..period-1, then smoothed s = s - s/period + new.
    From bar `period`: DI = 100*DM/TR (skipped when TR is zero by TA-Lib's test),
    DX = 100*|-DI - +DI|/(-DI + +DI) (skipped when the sum is zero). ADX at bar
    2*period-1 = (sum of the period DX values)/period; then
    adx = (adx*(period-1) + dx)/period, unchanged on bars whose DX was skipped.
    """
    h, lo, c = hlc("adx", high, low, close)
    n = SPECS["adx"].check_int("period", period)
    out = k.head_nan(len(c), 2 * n - 1)
    if len(c) >= 2 * n:
        _Adx(h, lo, c, n).run(out)
    return out


class _Adx:
    """ADX chunk by chunk: the Wilder sums, the DX sum and the average carry over."""

    def __init__(self, h: FloatArray, lo: FloatArray, c: FloatArray, n: int) -> None:
        self.h, self.lo, self.c, self.n = h, lo, c, n
        plus, minus = _directional_moves(h[:n], lo[:n])  # bars 1..n-1: plain sums
        tr = k.true_range(h[:n], lo[:n], c[:n])
        self.sums = np.array([k.seq_sum(tr), k.seq_sum(plus), k.seq_sum(minus)])
        self.sum_dx = 0.0
        self.adx = 0.0
        # reused by every chunk: tr, +DM, -DM (smoothed together), then scratch
        self.buffers = np.empty((6, min(k.CHUNK, len(c))))

    def run(self, out: FloatArray) -> None:
        """Fill out[2n-1:]."""
        n = self.n
        for start, stop in k.chunks(len(self.c) - n):
            t0, t1 = n + start, n + stop
            dx, valid = self._dx(t0, t1)
            warm = max(0, min(t1, 2 * n) - t0)  # bars before 2n only add to the DX sum
            if warm:
                kept = np.where(valid[:warm], dx[:warm], 0.0)  # dx is NaN where skipped
                self.sum_dx = k.seq_sum(np.concatenate(([self.sum_dx], kept)))
                if t0 + warm == 2 * n:
                    self.adx = out[2 * n - 1] = self.sum_dx / n
            if warm < len(dx):
                held = _hold_smooth(dx[warm:], valid[warm:], n, self.adx)
                out[t0 + warm : t1] = held
                self.adx = float(held[-1])

    def _dx(self, t0: int, t1: int) -> tuple[FloatArray, BoolArray]:
        """DX of bars t0..t1-1 (>= n) and whether TA-Lib's zero tests let it count."""
        h, lo, c = self.h[t0 - 1 : t1], self.lo[t0 - 1 : t1], self.c[t0 - 1 : t1]
        a = 1.0 - 1.0 / self.n
        size = t1 - t0
        k.true_range(h, lo, c, self.buffers[0, :size], self.buffers[5, :size])
        _directional_moves(h, lo, self.buffers[1:5])
        smoothed = k.smooth_rows(self.buffers[:3, :size], a, self.sums, 1.0)
        self.sums = smoothed[:, -1].copy()
        tr, plus_di, minus_di = smoothed
        with np.errstate(divide="ignore", invalid="ignore"):  # all >= 0: zero test is < 1e-14
            di = smoothed[1:]  # +DI, -DI = 100 * (DM / TR), both rows at once
            di /= tr
            di *= 100.0
            di_sum = np.add(minus_di, plus_di, out=self.buffers[5, :size])
            valid = np.greater_equal(tr, k.TA_EPSILON)
            valid &= di_sum >= k.TA_EPSILON
            dx = np.subtract(minus_di, plus_di, out=minus_di)
            np.abs(dx, out=dx)
            dx /= di_sum
            dx *= 100.0
        return dx, valid


def _hold_smooth(dx: FloatArray, valid: BoolArray, n: int, first: float) -> FloatArray:
    """adx = (adx*(n-1) + dx)/n from `first` on valid bars, held on the others."""
    a = (n - 1) / n
    if valid.all():
        return k.smooth(dx, a, first)
    smoothed = np.concatenate(([first], k.smooth(dx[valid], a, first)))
    return smoothed[np.cumsum(valid)]


def obv(close: object, volume: object) -> FloatArray:
    """On-Balance Volume (TA-Lib OBV), no warm-up: out[0] = volume[0] (TA-Lib's seed,
    not 0), then + volume when close rose, - volume when it fell. Bit-identical."""
    c = as_series("obv", "close", close)
    v = as_series("obv", "volume", volume)
    same_length("obv", close=c, volume=v)
    out = np.empty(len(c))
    if len(c):
        out[0] = v[0]
        step = np.sign(np.diff(c))
        np.multiply(step, v[1:], out=out[1:])
        np.cumsum(out, out=out)
    return out
