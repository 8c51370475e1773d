"""Batch indicators: pure numpy functions with TA-Lib 0.7.1's semantics.

Every function takes 1-D float64-convertible arrays, returns arrays of the
input's length, and puts NaN in the first `lookback` positions (the TA-Lib
convention; the lookbacks are in `engine.indicators.registry`). Input shorter
than the lookback gives all NaN. Bad input raises IndicatorError naming the
argument. Formulas and evaluation order: /work/shared/TALIB_NOTES.md.

Most outputs are bit-identical to TA-Lib; the recursive ones (EMA, MACD, RSI,
ATR, ADX) run their recurrences through scipy's lfilter and differ from TA-Lib
in the last bits, inside DESIGN.md's agreement contract.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.indicators import _kernels as k
from engine.indicators._kernels import FloatArray
from engine.indicators._validate import (
    MAX_NBDEV,
    as_series,
    check_period,
    check_real,
    same_length,
)


class Macd(NamedTuple):
    """MACD outputs: the MACD line, its signal line and their difference."""

    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


class Bands(NamedTuple):
    """Bollinger Bands outputs."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


class Stoch(NamedTuple):
    """Slow stochastic outputs (%K and %D)."""

    k: FloatArray
    d: FloatArray


def _hlc(func: str, high: object, low: object, close: object) -> tuple[FloatArray, ...]:
    h = as_series(func, "high", high)
    lo = as_series(func, "low", low)
    c = as_series(func, "close", close)
    same_length(func, high=h, low=lo, close=c)
    return h, lo, c


# --- moving averages -------------------------------------------------------


def sma(x: object, period: int) -> FloatArray:
    """Simple moving average (TA-Lib SMA), period in [1, 100000].

    Warm-up: the first `period - 1` outputs are NaN; out[t] = mean(x[t-period+1 .. t]).
    Computed with a re-anchored cumulative sum (last-bit differences from TA-Lib's
    running sum; period 1 returns x exactly).
    """
    arr = as_series("sma", "x", x)
    n = check_period("sma", "period", period, 1)
    out = k.nans(len(arr))
    if len(arr) >= n:
        out[n - 1 :] = arr[n - 1 :] if n == 1 else k.window_sums(arr, n) / n
    return out


def _ema_tail(x: FloatArray, n: int, seed_end: int, seed_start: int | None = None) -> FloatArray:
    """EMA values for t >= seed_end: seeded at seed_end with the mean of x[seed_start..seed_end]."""
    start = seed_end - n + 1 if seed_start is None else seed_start
    seed = k.seq_sum(x[start : seed_end + 1]) / n
    a = 1.0 - 2.0 / (n + 1)
    out = np.empty(len(x) - seed_end)
    out[0] = seed
    out[1:] = k.smooth(x[seed_end + 1 :], a, seed)
    return out


def ema(x: object, period: int) -> FloatArray:
    """Exponential moving average (TA-Lib EMA), period in [1, 100000], k = 2/(period+1).

    Seed: out[period-1] = (0.0 + x[0] + ... + x[period-1]) / period (the SMA);
    then out[t] = out[t-1] + k*(x[t] - out[t-1]). The first period-1 outputs are NaN.
    """
    arr = as_series("ema", "x", x)
    n = check_period("ema", "period", period, 1)
    out = k.nans(len(arr))
    if len(arr) >= n:
        out[n - 1 :] = _ema_tail(arr, n, n - 1)
    return out


def wma(x: object, period: int) -> FloatArray:
    """Weighted moving average (TA-Lib WMA), period in [1, 100000].

    out[t] = sum_{j=0}^{period-1} (period - j) * x[t-j] / (period*(period+1)/2);
    the first period-1 outputs are NaN. Computed as a direct dot product per
    window (TA-Lib's running form drifts in the last bits; both are in contract).
    """
    arr = as_series("wma", "x", x)
    n = check_period("wma", "period", period, 1)
    out = k.nans(len(arr))
    if len(arr) >= n:
        weights = np.arange(n, 0, -1, dtype=np.float64)
        out[n - 1 :] = np.convolve(arr, weights, mode="valid") / float(n * (n + 1) // 2)
    return out


def macd(x: object, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """Moving Average Convergence/Divergence (TA-Lib MACD).

    fast, slow in [2, 100000] (swapped when slow < fast), signal in [1, 100000].
    Lookback (slow-1)+(signal-1): all three outputs are NaN before it. The slow EMA
    is seeded at bar slow-1 with the mean of x[0..slow-1]; the fast EMA is seeded on
    the same bar with the mean of x[slow-fast..slow-1] (TA-Lib's alignment, so MACD
    differs from ema(fast)-ema(slow) near the start). macd = fast - slow; the signal
    is an EMA of macd seeded with the mean of its first `signal` values;
    histogram = macd - signal.
    """
    arr = as_series("macd", "x", x)
    f = check_period("macd", "fast", fast, 2)
    s = check_period("macd", "slow", slow, 2)
    g = check_period("macd", "signal", signal, 1)
    if s < f:
        f, s = s, f
    size = len(arr)
    lookback = (s - 1) + (g - 1)
    outs = [k.nans(size) for _ in range(3)]
    if size > lookback:
        line = _ema_tail(arr, f, s - 1, s - f) - _ema_tail(arr, s, s - 1)
        sig = _ema_tail(line, g, g - 1)
        outs[0][lookback:] = line[g - 1 :]
        outs[1][lookback:] = sig
        outs[2][lookback:] = line[g - 1 :] - sig
    return Macd(*outs)


def bollinger(
    x: object, period: int = 20, nbdev_up: float = 2.0, nbdev_down: float = 2.0
) -> Bands:
    """Bollinger Bands (TA-Lib BBANDS with an SMA), period in [2, 100000].

    Lookback period-1. middle = SMA; variance = mean(x^2) - middle^2 from TA-Lib's
    running sums (population variance), sd = 0 when variance < 1e-14 else sqrt;
    upper = middle + nbdev_up*sd, lower = middle - nbdev_down*sd. Bit-identical
    to TA-Lib (its running sums are reproduced in order).
    """
    arr = as_series("bollinger", "x", x)
    n = check_period("bollinger", "period", period, 2)
    up = check_real("bollinger", "nbdev_up", nbdev_up, MAX_NBDEV)
    down = check_real("bollinger", "nbdev_down", nbdev_down, MAX_NBDEV)
    outs = [k.nans(len(arr)) for _ in range(3)]
    if len(arr) >= n:
        middle = k.chain_sum_add_first(arr, n) / n
        var = k.chain_sum_add_first(arr * arr, n) / n
        var -= middle * middle
        sd = np.where(var < k.TA_EPSILON, 0.0, np.sqrt(np.maximum(var, 0.0)))
        outs[0][n - 1 :] = middle + up * sd
        outs[1][n - 1 :] = middle
        outs[2][n - 1 :] = middle - down * sd
    return Bands(*outs)


# --- momentum --------------------------------------------------------------


def _rsi_ratio(gain: FloatArray, loss: FloatArray) -> FloatArray:
    total = gain + loss
    ratio = np.divide(gain, total, out=np.zeros_like(total), where=~k.is_zero(total))
    return np.where(k.is_zero(total), 0.0, 100.0 * ratio)


def rsi(x: object, period: int = 14) -> FloatArray:
    """Relative Strength Index (TA-Lib RSI, Wilder smoothing), period in [2, 100000].

    Lookback period. Seed at bar `period`: average gain and loss of the first
    `period` differences; then g = (g*(period-1) + gain)/period (same for losses).
    out = 100*g/(g+l), or 0.0 when g+l is zero by TA-Lib's test (|v| < 1e-14) —
    so a constant series gives 0, as in TA-Lib.
    """
    arr = as_series("rsi", "x", x)
    n = check_period("rsi", "period", period, 2)
    out = k.nans(len(arr))
    if len(arr) > n:
        d = np.diff(arr)
        gains = np.where(d < 0, 0.0, d)
        losses = np.where(d < 0, -d, 0.0)
        a = (n - 1) / n
        g0 = k.seq_sum(gains[:n]) / n
        l0 = k.seq_sum(losses[:n]) / n
        g = np.concatenate(([g0], k.smooth(gains[n:], a, g0)))
        lo = np.concatenate(([l0], k.smooth(losses[n:], a, l0)))
        out[n:] = _rsi_ratio(g, lo)
    return out


def stoch(
    high: object, low: object, close: object, fastk: int = 5, slowk: int = 3, slowd: int = 3
) -> Stoch:
    """Slow stochastic (TA-Lib STOCH with SMA smoothing).

    fastk, slowk, slowd in [1, 100000]; lookback (fastk-1)+(slowk-1)+(slowd-1).
    fastK = (close - LL)/((HH - LL)/100) over the last fastk bars, 0.0 when
    HH == LL; k = SMA(fastK, slowk); d = SMA(k, slowd). Both outputs start at
    the lookback.
    """
    h, lo, c = _hlc("stoch", high, low, close)
    fk = check_period("stoch", "fastk", fastk, 1)
    sk = check_period("stoch", "slowk", slowk, 1)
    sd = check_period("stoch", "slowd", slowd, 1)
    lookback = (fk - 1) + (sk - 1) + (sd - 1)
    k_out, d_out = k.nans(len(c)), k.nans(len(c))
    if len(c) > lookback:
        hh, ll = k.rolling_max(h, fk), k.rolling_min(lo, fk)
        diff = (hh - ll) / 100.0
        fast = np.divide(c[fk - 1 :] - ll, diff, out=np.zeros_like(diff), where=diff != 0.0)
        slow_k = _mean_windows(fast, sk)
        slow_d = _mean_windows(slow_k, sd)
        k_out[lookback:] = slow_k[sd - 1 :]
        d_out[lookback:] = slow_d
    return Stoch(k_out, d_out)


def _mean_windows(x: FloatArray, n: int) -> FloatArray:
    """SMA values for t >= n-1 (TA-Lib returns the input itself for n == 1)."""
    return x.copy() if n == 1 else k.window_sums(x, n) / n


def willr(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Williams' %R (TA-Lib WILLR), period in [2, 100000], lookback period-1.

    out = (HH - close)/((HH - LL)/-100) over the last `period` bars; 0.0 when HH == LL.
    Bit-identical to TA-Lib.
    """
    h, lo, c = _hlc("willr", high, low, close)
    n = check_period("willr", "period", period, 2)
    out = k.nans(len(c))
    if len(c) >= n:
        hh, ll = k.rolling_max(h, n), k.rolling_min(lo, n)
        diff = (hh - ll) / -100.0
        out[n - 1 :] = np.divide(hh - c[n - 1 :], diff, out=np.zeros_like(diff), where=diff != 0)
    return out


def cci(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Commodity Channel Index (TA-Lib CCI), period in [2, 100000], lookback period-1.

    tp = (high+low+close)/3; avg = mean of the last `period` tp; md = mean |tp - avg|;
    out = (tp - avg)/(0.015*md), or 0.0 when tp - avg or md is exactly 0. The
    average is summed in TA-Lib's circular-buffer order (bit-identical), which
    matters when tp - avg cancels.
    """
    h, lo, c = _hlc("cci", high, low, close)
    n = check_period("cci", "period", period, 2)
    out = k.nans(len(c))
    if len(c) >= n:
        tp = (h + lo + c) / 3.0
        avg = k.slot_order_sums(tp, n) / n
        md = k.slot_order_abs_dev(tp, n, avg)
        dev = tp[n - 1 :] - avg
        denom = 0.015 * (md / n)
        ok = (dev != 0.0) & (md != 0.0)
        out[n - 1 :] = np.divide(dev, denom, out=np.zeros_like(dev), where=ok)
    return out


def mfi(
    high: object, low: object, close: object, volume: object, period: int = 14
) -> FloatArray:
    """Money Flow Index (TA-Lib MFI), period in [2, 100000], lookback period.

    tp = (high+low+close)/3.0; flow = tp*volume counted positive when tp rose,
    negative when it fell, neither when unchanged; sums over the last `period`
    flows; out = 0.0 when pos+neg < 1.0 (TA-Lib's absolute threshold) else
    100*pos/(pos+neg). Bit-identical to TA-Lib (running sums reproduced in order).
    """
    h, lo, c = _hlc("mfi", high, low, close)
    v = as_series("mfi", "volume", volume)
    same_length("mfi", high=h, volume=v)
    n = check_period("mfi", "period", period, 2)
    out = k.nans(len(c))
    if len(c) > n:
        tp = (h + lo + c) / 3.0
        flow = tp[1:] * v[1:]
        move = tp[1:] - tp[:-1]
        pos = np.where(move > 0, flow, 0.0)
        neg = np.where(move < 0, flow, 0.0)
        ps = k.chain_sum_sub_first(pos[:n], pos[n:], pos[: len(pos) - n])
        ns = k.chain_sum_sub_first(neg[:n], neg[n:], neg[: len(neg) - n])
        total = ps + ns
        ratio = np.divide(ps, total, out=np.zeros_like(total), where=total >= 1.0)
        out[n:] = np.where(total < 1.0, 0.0, 100.0 * ratio)
    return out


def roc(x: object, period: int = 10) -> FloatArray:
    """Rate of change in percent (TA-Lib ROC), period in [1, 100000], lookback period.

    out = ((x[t]/x[t-period]) - 1)*100, or 0.0 when x[t-period] is 0. Bit-identical.
    """
    arr = as_series("roc", "x", x)
    n = check_period("roc", "period", period, 1)
    out = k.nans(len(arr))
    if len(arr) > n:
        prev = arr[:-n]
        ratio = np.divide(arr[n:], prev, out=np.ones_like(prev), where=prev != 0.0)
        out[n:] = (ratio - 1.0) * 100.0
    return out


def mom(x: object, period: int = 10) -> FloatArray:
    """Momentum (TA-Lib MOM), period in [1, 100000], lookback period: x[t] - x[t-period]."""
    arr = as_series("mom", "x", x)
    n = check_period("mom", "period", period, 1)
    out = k.nans(len(arr))
    if len(arr) > n:
        out[n:] = arr[n:] - arr[:-n]
    return out


# --- volatility, trend, volume ---------------------------------------------


def atr(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Average True Range (TA-Lib ATR), period in [1, 100000], lookback period.

    True range from bar 1: max(high-low, |prev close-high|, |prev close-low|).
    Seed at bar `period`: mean of TR[1..period]; then a = (a*(period-1) + TR)/period.
    Period 1 returns the true range itself (TA-Lib's TRANGE).
    """
    h, lo, c = _hlc("atr", high, low, close)
    n = check_period("atr", "period", period, 1)
    out = k.nans(len(c))
    if len(c) > n:
        tr = k.true_range(h, lo, c)
        if n == 1:
            out[1:] = tr
        else:
            seed = k.seq_sum(tr[:n]) / n
            out[n] = seed
            out[n + 1 :] = k.smooth(tr[n:], (n - 1) / n, seed)
    return out


def _directional_moves(h: FloatArray, lo: FloatArray) -> tuple[FloatArray, FloatArray]:
    """TA-Lib's +DM and -DM for bars 1.. (a tie gives neither)."""
    up = h[1:] - h[:-1]
    down = lo[:-1] - lo[1:]
    minus_mask = (down > 0) & (up < down)
    plus_mask = ~minus_mask & (up > 0) & (up > down)
    return np.where(plus_mask, up, 0.0), np.where(minus_mask, down, 0.0)


def _wilder_sum(x: FloatArray, n: int) -> FloatArray:
    """TA-Lib's ADX smoothing, values for bars n..: plain sum of x[0..n-2], then s = s - s/n + x."""
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
    h, lo, c = _hlc("adx", high, low, close)
    n = check_period("adx", "period", period, 2)
    out = k.nans(len(c))
    if len(c) < 2 * n:
        return out
    plus_dm, minus_dm = _directional_moves(h, lo)
    tr = _wilder_sum(k.true_range(h, lo, c), n)  # bars n..
    pdm = _wilder_sum(plus_dm, n)
    mdm = _wilder_sum(minus_dm, n)
    tr_ok = ~k.is_zero(tr)
    safe_tr = np.where(tr_ok, tr, 1.0)
    minus_di = 100.0 * (mdm / safe_tr)
    plus_di = 100.0 * (pdm / safe_tr)
    di_sum = minus_di + plus_di
    valid = tr_ok & ~k.is_zero(di_sum)
    dx = np.where(valid, 100.0 * (np.abs(minus_di - plus_di) / np.where(valid, di_sum, 1.0)), 0.0)
    first = k.seq_sum(dx[:n]) / n
    out[2 * n - 1 :] = _hold_smooth(dx[n:], valid[n:], n, first)
    return out


def _hold_smooth(dx: FloatArray, valid: k.BoolArray, n: int, first: float) -> FloatArray:
    """first, then adx = (adx*(n-1) + dx)/n on valid bars, held on the others."""
    smoothed = np.concatenate(([first], k.smooth(dx[valid], (n - 1) / n, first)))
    count = np.cumsum(valid)  # valid values seen up to each bar
    return np.concatenate(([first], smoothed[count]))


def obv(close: object, volume: object) -> FloatArray:
    """On-Balance Volume (TA-Lib OBV), no warm-up: out[0] = volume[0] (TA-Lib's seed,
    not 0), then + volume when close rose, - volume when it fell. Bit-identical."""
    c = as_series("obv", "close", close)
    v = as_series("obv", "volume", volume)
    same_length("obv", close=c, volume=v)
    if len(c) == 0:
        return np.empty(0)
    step = np.where(c[1:] > c[:-1], v[1:], np.where(c[1:] < c[:-1], -v[1:], 0.0))
    out: FloatArray = np.cumsum(np.concatenate((v[:1], step)))
    return out
