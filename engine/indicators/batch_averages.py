"""Batch moving averages and bands: SMA, EMA, WMA, MACD, Bollinger (TA-Lib 0.7.1 semantics)."""

from __future__ import annotations

import numpy as np

from engine.indicators import _kernels as k
from engine.indicators._kernels import FloatArray
from engine.indicators._validate import as_series
from engine.indicators.registry import SPECS, Bands, Macd

__all__ = ["Bands", "Macd", "bollinger", "ema", "macd", "sma", "wma"]


def sma(x: object, period: int) -> FloatArray:
    """Simple moving average (TA-Lib SMA), period in [1, 100000].

    Warm-up: the first `period - 1` outputs are NaN; out[t] = mean(x[t-period+1 .. t]).
    Computed with a running sum like TA-Lib's, restarted from a fresh window sum
    every 65536 values (last-bit differences from TA-Lib; period 1 returns x exactly).
    """
    arr = as_series("sma", "x", x)
    n = SPECS["sma"].check_int("period", period)
    out = k.head_nan(len(arr), n - 1)
    if len(arr) >= n:
        if n == 1:
            out[:] = arr
        else:
            k.window_sums(arr, n, out=out[n - 1 :], divisor=n)
    return out


def _ema_into(dest: FloatArray, x: FloatArray, n: int, seed_end: int, seed_start: int) -> None:
    """dest = EMA(n) of x for t >= seed_end, seeded with mean(x[seed_start..seed_end])."""
    seed = k.seq_sum(x[seed_start : seed_end + 1]) / n
    dest[0] = seed
    k.smooth(x[seed_end + 1 :], 1.0 - 2.0 / (n + 1), seed, out=dest[1:])


def ema(x: object, period: int) -> FloatArray:
    """Exponential moving average (TA-Lib EMA), period in [1, 100000], k = 2/(period+1).

    Seed: out[period-1] = (0.0 + x[0] + ... + x[period-1]) / period (the SMA);
    then out[t] = out[t-1] + k*(x[t] - out[t-1]). The first period-1 outputs are NaN.
    """
    arr = as_series("ema", "x", x)
    n = SPECS["ema"].check_int("period", period)
    out = k.head_nan(len(arr), n - 1)
    if len(arr) >= n:
        _ema_into(out[n - 1 :], arr, n, n - 1, 0)
    return out


def wma(x: object, period: int) -> FloatArray:
    """Weighted moving average (TA-Lib WMA), period in [1, 100000].

    out[t] = sum_{j=0}^{period-1} (period - j) * x[t-j] / (period*(period+1)/2);
    the first period-1 outputs are NaN; period 1 returns x. TA-Lib computes it
    with two running sums whose rounding drifts (over 10^6 values, by more than
    docs/design.md's contract allows against the exact value), so they are replayed
    exactly: bit-identical to TA-Lib, drift included.
    """
    arr = as_series("wma", "x", x)
    n = SPECS["wma"].check_int("period", period)
    out = k.head_nan(len(arr), n - 1)
    if len(arr) >= n:
        if n == 1:
            out[:] = arr
        else:
            _wma_into(arr, n, out)
    return out


def _wma_into(x: FloatArray, n: int, out: FloatArray) -> None:
    """out[t] = TA-Lib's periodSum / divider for t >= n-1 (out indexed like x).

    Replays TA-Lib's two chains per bar t: sub += x[t]; sub -= x[t-n] (nothing at
    t = n-1); sum += x[t]*n; emit sum; sum -= sub. Both start from the plain sums
    of x[i] and x[i]*(i+1), i < n-1. They run as one ChainPair, pipelined: each
    step advances periodSub over chunk c (real part) and periodSum over chunk
    c-1 (imaginary part), which needs the periodSub values of the step before.
    """
    divider = float(n * (n + 1) // 2)
    chains = k.ChainPair((x[: n - 1], x[: n - 1] * np.arange(1.0, float(n))), False, True)
    ranges = [(n - 1 + start, n - 1 + stop) for start, stop in k.chunks(len(x) - n + 1)]
    subs = np.empty(0)  # periodSub at each bar of the previous chunk
    zeros = np.zeros(k.CHUNK)
    for c in range(len(ranges) + 1):
        size = max(t1 - t0 for t0, t1 in ranges[max(c - 1, 0) : c + 1])
        if c < len(ranges):
            t0, t1 = ranges[c]
            leaving = x[max(t0 - n, 0) : t1 - n]
            if t0 == n - 1:  # nothing leaves at t = n-1 (adding -0.0 changes no sum)
                leaving = np.concatenate(([0.0], leaving))
            sub_ops = _padded(x[t0:t1], size, zeros), _padded(leaving, size, zeros)
        else:
            sub_ops = zeros[:size], zeros[:size]
        if c > 0:
            p0, p1 = ranges[c - 1]
            sum_ops = _padded(x[p0:p1] * float(n), size, zeros), _padded(subs, size, zeros)
        else:
            sum_ops = zeros[:size], zeros[:size]
        z = chains.step((sub_ops[0], sum_ops[0]), (sub_ops[1], sum_ops[1]))
        if c > 0:
            np.divide(z.imag[0 : 2 * (p1 - p0) : 2], divider, out=out[p0:p1])
        if c < len(ranges):
            subs = z.real[1 : 2 * (t1 - t0) : 2].copy()


def _padded(values: FloatArray, size: int, zeros: FloatArray) -> FloatArray:
    """values followed by zeros up to `size` (a no-op when already that long)."""
    if len(values) == size:
        return values
    return np.concatenate((values, zeros[: size - len(values)]))


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
    f = SPECS["macd"].check_int("fast", fast)
    s = SPECS["macd"].check_int("slow", slow)
    g = SPECS["macd"].check_int("signal", signal)
    if s < f:
        f, s = s, f
    size, lookback = len(arr), (s - 1) + (g - 1)
    line, sig, hist = (k.head_nan(size, lookback) for _ in range(3))
    if size > lookback:
        fast_ema = np.empty(size - s + 1)
        _ema_into(fast_ema, arr, f, s - 1, s - f)
        slow_ema = np.empty(size - s + 1)
        _ema_into(slow_ema, arr, s, s - 1, 0)
        full_line = np.subtract(fast_ema, slow_ema, out=fast_ema)
        _ema_into(sig[lookback:], full_line, g, g - 1, 0)
        line[lookback:] = full_line[g - 1 :]
        np.subtract(line[lookback:], sig[lookback:], out=hist[lookback:])
    return Macd(line, sig, hist)


def bollinger(
    x: object, period: int = 20, nbdev_up: float = 2.0, nbdev_down: float = 2.0
) -> Bands:
    """Bollinger Bands (TA-Lib BBANDS with an SMA), period in [2, 100000].

    Lookback period-1. middle = SMA; variance = mean(x^2) - middle^2 from TA-Lib's
    running sums (population variance), sd = 0 when variance < 1e-14 else sqrt;
    upper = middle + nbdev_up*sd, lower = middle - nbdev_down*sd (nbdev in
    [-3e37, 3e37]). Bit-identical to TA-Lib: its running sums are reproduced in
    order, since their cancellation decides the last bits of sd.
    """
    arr = as_series("bollinger", "x", x)
    n = SPECS["bollinger"].check_int("period", period)
    up = SPECS["bollinger"].check_float("nbdev_up", nbdev_up)
    down = SPECS["bollinger"].check_float("nbdev_down", nbdev_down)
    bands = Bands(*(k.head_nan(len(arr), n - 1) for _ in range(3)))
    if len(arr) >= n:
        _bands_into(arr, n, up, down, bands)
    return bands


def _bands_into(arr: FloatArray, n: int, up: float, down: float, bands: Bands) -> None:
    """Fill the bands from t = n-1, chunk by chunk (both running sums replayed exactly,
    together: the sum as the real part, the sum of squares as the imaginary part)."""
    sums = k.ChainPair((arr[: n - 1], np.square(arr[: n - 1])), False, True)
    for start, stop in k.chunks(len(arr) - n + 1):
        new, old = arr[n - 1 + start : n - 1 + stop], arr[start:stop]
        t0, t1 = n - 1 + start, n - 1 + stop
        after_add = sums.step((new, np.square(new)), (old, np.square(old)))[0::2]
        mid = np.divide(after_add.real, n, out=bands.middle[t0:t1])
        var = after_add.imag / n
        var -= np.square(mid)
        sd = np.sqrt(np.maximum(var, 0.0))
        sd[var < k.TA_EPSILON] = 0.0
        np.add(mid, np.multiply(sd, up), out=bands.upper[t0:t1])
        np.subtract(mid, np.multiply(sd, down), out=bands.lower[t0:t1])
