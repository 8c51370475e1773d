"""Batch range, trend and volume indicators: ATR, ADX, OBV (TA-Lib 0.7.1 semantics)."""

from __future__ import annotations

import numpy as np

from engine.indicators import _kernels as k
from engine.indicators._kernels import BoolArray, FloatArray
from engine.indicators._validate import as_series, check_period, same_length
from engine.indicators.batch_momentum import hlc


def atr(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Average True Range (TA-Lib ATR), period in [1, 100000], lookback period.

    True range from bar 1: max(high-low, |prev close-high|, |prev close-low|).
    Seed at bar `period`: mean of TR[1..period]; then a = (a*(period-1) + TR)/period.
    Period 1 returns the true range itself (TA-Lib's TRANGE).
    """
    h, lo, c = hlc("atr", high, low, close)
    n = check_period("atr", "period", period, 1)
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


def _directional_moves(h: FloatArray, lo: FloatArray) -> tuple[FloatArray, FloatArray]:
    """TA-Lib's +DM and -DM for bars 1.. (a tie gives neither).

    -DM = down when down > 0 and up < down, i.e. down > max(up, 0); +DM = up when
    up > 0 and up > down, i.e. up > max(down, 0). Multiplying by the mask is exact.
    """
    up = np.diff(h)
    down = lo[:-1] - lo[1:]
    minus = down * (down > np.maximum(up, 0.0))
    plus = up * (up > np.maximum(down, 0.0))
    return plus, minus


def _wilder_sum(x: FloatArray, n: int) -> FloatArray:
    """TA-Lib's ADX smoothing, values for bars n..: plain sum of x[0..n-2], then
    s = s - s/n + x (x indexed from bar 1)."""
    s0 = k.seq_sum(x[: n - 1])
    return k.smooth(x[n - 1 :], 1.0 - 1.0 / n, s0, b=1.0)


def adx(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Average Directional Index (TA-Lib ADX), period in [2, 100000], lookback 2*period-1.

    +DM/-DM and TR summed over bars 1..period-1, then smoothed s = s - s/period + new.
    From bar `period`: DI = 100*DM/TR (skipped when TR is zero by TA-Lib's test),
    DX = 100*|-DI - +DI|/(-DI + +DI) (skipped when the sum is zero). ADX at bar
    2*period-1 = (sum of the period DX values)/period; then
    adx = (adx*(period-1) + dx)/period, unchanged on bars whose DX was skipped.
    """
    h, lo, c = hlc("adx", high, low, close)
    n = check_period("adx", "period", period, 2)
    out = k.head_nan(len(c), 2 * n - 1)
    if len(c) >= 2 * n:
        dx, valid = _dx(h, lo, c, n)
        first = k.seq_sum(np.where(valid[:n], dx[:n], 0.0)) / n  # dx is NaN where invalid
        out[2 * n - 1] = first
        out[2 * n :] = _hold_smooth(dx[n:], valid[n:], n, first)
    return out


def _dx(h: FloatArray, lo: FloatArray, c: FloatArray, n: int) -> tuple[FloatArray, BoolArray]:
    """DX for bars n.., and whether TA-Lib's zero tests let it count."""
    plus_dm, minus_dm = _directional_moves(h, lo)
    tr = _wilder_sum(k.true_range(h, lo, c), n)  # all three are >= 0: zero test = v < 1e-14
    with np.errstate(divide="ignore", invalid="ignore"):
        minus_di = _wilder_sum(minus_dm, n)
        minus_di /= tr
        minus_di *= 100.0
        plus_di = _wilder_sum(plus_dm, n)
        plus_di /= tr
        plus_di *= 100.0
        di_sum = minus_di + plus_di
        valid = (tr >= k.TA_EPSILON) & (di_sum >= k.TA_EPSILON)
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
