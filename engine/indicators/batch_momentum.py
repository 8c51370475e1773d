"""Batch oscillators and momentum: RSI, STOCH, WILLR, CCI, MFI, ROC, MOM (TA-Lib 0.7.1)."""

from __future__ import annotations

import numpy as np

from engine.indicators import _kernels as k
from engine.indicators._kernels import FloatArray
from engine.indicators._validate import as_series, same_length
from engine.indicators.registry import SPECS, Stoch

__all__ = ["Stoch", "cci", "hlc", "mfi", "mom", "roc", "rsi", "stoch", "willr"]


def hlc(func: str, high: object, low: object, close: object) -> tuple[FloatArray, ...]:
    """Validated high, low, close arrays of one length."""
    h = as_series(func, "high", high)
    lo = as_series(func, "low", low)
    c = as_series(func, "close", close)
    same_length(func, high=h, low=lo, close=c)
    return h, lo, c


def _ratio_into(dest: FloatArray, num: FloatArray, den: FloatArray, zero: k.BoolArray) -> None:
    """dest = 100*(num/den), and 0.0 where `zero` (TA-Lib's degenerate cases)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(num, den, out=dest)
    dest *= 100.0
    if zero.any():
        dest[zero] = 0.0


def rsi(x: object, period: int = 14) -> FloatArray:
    """Relative Strength Index (TA-Lib RSI, Wilder smoothing), period in [2, 100000].

    Lookback period. Seed at bar `period`: average gain and loss of the first
    `period` differences; then g = (g*(period-1) + gain)/period (same for losses).
    out = 100*g/(g+l), or 0.0 when g+l is zero by TA-Lib's test (|v| < 1e-14) —
    so a constant series gives 0, as in TA-Lib.
    """
    arr = as_series("rsi", "x", x)
    n = SPECS["rsi"].check_int("period", period)
    out = k.head_nan(len(arr), n)
    if len(arr) > n:
        _rsi_into(arr, n, out)
    return out


def _gains_losses(d: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per difference: the gain (d, or 0 when d < 0) and the loss (-d, or 0); d is reused."""
    gains = np.maximum(d, 0.0)
    return gains, np.maximum(np.negative(d, out=d), 0.0, out=d)


def _rsi_into(arr: FloatArray, n: int, out: FloatArray) -> None:
    """RSI from bar n, chunk by chunk (the Wilder averages carried between chunks)."""
    gains, losses = _gains_losses(np.diff(arr[: n + 1]))
    g, lo = k.seq_sum(gains) / n, k.seq_sum(losses) / n
    out[n] = _rsi_value(g, lo)
    a = (n - 1) / n
    for start, stop in k.chunks(len(arr) - n - 1):
        t0, t1 = n + 1 + start, n + 1 + stop
        gains, losses = _gains_losses(arr[t0:t1] - arr[t0 - 1 : t1 - 1])
        gs = k.smooth(gains, a, g, out=gains)
        total = k.smooth(losses, a, lo, out=losses)
        g, lo = float(gs[-1]), float(total[-1])
        total += gs  # >= 0, so TA-Lib's zero test is total < 1e-14
        _ratio_into(out[t0:t1], gs, total, total < k.TA_EPSILON)


def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 0.0 if -k.TA_EPSILON < total < k.TA_EPSILON else 100.0 * (gain / total)


def stoch(
    high: object, low: object, close: object, fastk: int = 5, slowk: int = 3, slowd: int = 3
) -> Stoch:
    """Slow stochastic (TA-Lib STOCH with SMA smoothing).

    fastk, slowk, slowd in [1, 100000]; lookback (fastk-1)+(slowk-1)+(slowd-1).
    fastK = (close - LL)/((HH - LL)/100) over the last fastk bars, 0.0 when
    HH == LL; k = SMA(fastK, slowk); d = SMA(k, slowd). Both outputs start at
    the lookback.
    """
    h, lo, c = hlc("stoch", high, low, close)
    fk = SPECS["stoch"].check_int("fastk", fastk)
    sk = SPECS["stoch"].check_int("slowk", slowk)
    sd = SPECS["stoch"].check_int("slowd", slowd)
    lookback = (fk - 1) + (sk - 1) + (sd - 1)
    k_out, d_out = k.head_nan(len(c), lookback), k.head_nan(len(c), lookback)
    if len(c) > lookback:
        fast = np.empty(len(c) - fk + 1)
        for start, stop in k.chunks(len(fast)):
            hh = k.rolling_max(h[start : fk - 1 + stop], fk)
            ll = k.rolling_min(lo[start : fk - 1 + stop], fk)
            diff = np.subtract(hh, ll, out=hh)
            diff /= 100.0
            num = np.subtract(c[fk - 1 + start : fk - 1 + stop], ll, out=fast[start:stop])
            _safe_divide(num, diff)
        slow_k = _mean_windows(fast, sk)
        _mean_windows(slow_k, sd, out=d_out[lookback:])
        k_out[lookback:] = slow_k[sd - 1 :]
    return Stoch(k_out, d_out)


def _safe_divide(num: FloatArray, den: FloatArray) -> None:
    """num /= den in place, with 0.0 where den == 0 (TA-Lib's zero-range rule)."""
    zero = den == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        num /= den
    if zero.any():
        num[zero] = 0.0


def _mean_windows(x: FloatArray, n: int, out: FloatArray | None = None) -> FloatArray:
    """SMA values for t >= n-1 (TA-Lib returns the input itself for n == 1)."""
    if n == 1:
        if out is None:
            return x.copy()
        out[:] = x
        return out
    return k.window_sums(x, n, out=out, divisor=n)


def willr(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Williams' %R (TA-Lib WILLR), period in [2, 100000], lookback period-1.

    out = (HH - close)/((HH - LL)/-100) over the last `period` bars; 0.0 when
    HH == LL. Bit-identical to TA-Lib.
    """
    h, lo, c = hlc("willr", high, low, close)
    n = SPECS["willr"].check_int("period", period)
    out = k.head_nan(len(c), n - 1)
    for start, stop in k.chunks(len(c) - n + 1):
        t0, t1 = n - 1 + start, n - 1 + stop
        hh, ll = k.rolling_max(h[start:t1], n), k.rolling_min(lo[start:t1], n)
        diff = np.subtract(hh, ll, out=ll)
        diff /= -100.0
        num = np.subtract(hh, c[t0:t1], out=out[t0:t1])
        _safe_divide(num, diff)
    return out


def cci(high: object, low: object, close: object, period: int = 14) -> FloatArray:
    """Commodity Channel Index (TA-Lib CCI), period in [2, 100000], lookback period-1.

    tp = (high+low+close)/3; avg = mean of the last `period` tp; md = mean |tp - avg|;
    out = (tp - avg)/(0.015*md), or 0.0 when tp - avg or md is exactly 0. Sums run
    in TA-Lib's circular-buffer order (bit-identical): tp - avg cancels, so the
    last bits of avg decide the result on flat windows.
    """
    h, lo, c = hlc("cci", high, low, close)
    n = SPECS["cci"].check_int("period", period)
    out = k.head_nan(len(c), n - 1)
    if len(c) >= n:
        tp = h + lo
        tp += c
        tp /= 3.0
        avg, md = k.slot_order_mean_dev(tp, n)
        dev = np.subtract(tp[n - 1 :], avg, out=out[n - 1 :])
        zero = (dev == 0.0) | (md == 0.0)
        md /= n
        md *= 0.015
        with np.errstate(divide="ignore", invalid="ignore"):
            dev /= md
        if zero.any():
            dev[zero] = 0.0
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
    h, lo, c = hlc("mfi", high, low, close)
    v = as_series("mfi", "volume", volume)
    same_length("mfi", high=h, volume=v)
    n = SPECS["mfi"].check_int("period", period)
    out = k.head_nan(len(c), n)
    if len(c) > n:
        _mfi_into(h, lo, c, v, n, out)
    return out


def _flows(
    bars: tuple[FloatArray, ...], start: int, stop: int
) -> tuple[FloatArray, FloatArray]:
    """Positive and negative money flows of bars start..stop-1 (start >= 1)."""
    h, lo, c, v = bars
    tp = h[start - 1 : stop] + lo[start - 1 : stop]
    tp += c[start - 1 : stop]
    tp /= 3.0
    move = np.diff(tp)
    flow = np.multiply(tp[1:], v[start:stop], out=tp[1:])
    return flow * (move > 0), np.multiply(flow, move < 0, out=move)  # 0.0 adds exactly


def _mfi_into(
    h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, n: int, out: FloatArray
) -> None:
    """MFI for bars n.., chunk by chunk; TA-Lib's running sums (subtract the flow
    leaving the window, then add the new one) replayed exactly."""
    bars = (h, lo, c, v)
    first_pos, first_neg = _flows(bars, 1, n + 1)
    sums = k.ChainPair((first_pos, first_neg), True, False)  # real: positive, imag: negative
    out[n] = _mfi_value(sums.carry.real, sums.carry.imag)
    for start, stop in k.chunks(len(c) - n - 1):
        t0, t1 = n + 1 + start, n + 1 + stop
        pos, neg = _flows(bars, t0 - n, t1)  # the leaving flows, then the new ones
        size = t1 - t0
        both = sums.step((pos[:size], neg[:size]), (pos[n:], neg[n:]))[1::2]
        ps, ns = both.real, both.imag
        total = ps + ns
        _ratio_into(out[t0:t1], ps, total, total < 1.0)


def _mfi_value(pos: float, neg: float) -> float:
    total = pos + neg
    return 0.0 if total < 1.0 else 100.0 * (pos / total)


def roc(x: object, period: int = 10) -> FloatArray:
    """Rate of change in percent (TA-Lib ROC), period in [1, 100000], lookback period.

    out = ((x[t]/x[t-period]) - 1)*100, or 0.0 when x[t-period] is 0. Bit-identical.
    """
    arr = as_series("roc", "x", x)
    n = SPECS["roc"].check_int("period", period)
    out = k.head_nan(len(arr), n)
    if len(arr) > n:
        prev = arr[:-n]
        tail = out[n:]
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(arr[n:], prev, out=tail)
        tail -= 1.0
        tail *= 100.0
        zero = prev == 0.0
        if zero.any():
            tail[zero] = 0.0
    return out


def mom(x: object, period: int = 10) -> FloatArray:
    """Momentum (TA-Lib MOM), period in [1, 100000], lookback period: x[t] - x[t-period]."""
    arr = as_series("mom", "x", x)
    n = SPECS["mom"].check_int("period", period)
    out = k.head_nan(len(arr), n)
    if len(arr) > n:
        np.subtract(arr[n:], arr[:-n], out=out[n:])
    return out
