"""Batch window statistics: HIGHEST, LOWEST and STDDEV (TA-Lib MAX, MIN, STDDEV), TA-Lib 0.7.1."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.indicators import _kernels as k
from engine.indicators._kernels import FloatArray
from engine.indicators._validate import as_series
from engine.indicators.registry import SPECS

__all__ = ["highest", "lowest", "stddev"]

IndexArray = npt.NDArray[np.intp]


def highest(high: object, period: int = 30) -> FloatArray:
    """Highest high of the last `period` bars (TA-Lib MAX over the high series),
    period in [2, 100000], lookback period-1. Bit-identical to TA-Lib.

    TA-Lib reports the value at a tracked index (``_talib_extreme_index``); a
    maximum of the same doubles is the same double, so only the sign of a zero
    maximum can depend on that index — the exact tracking runs only for input
    holding -0.0.
    """
    x = as_series("highest", "high", high)
    n = SPECS["highest"].check_int("period", period)
    return _extreme(x, n, np.maximum, np.greater)


def lowest(low: object, period: int = 30) -> FloatArray:
    """Lowest low of the last `period` bars (TA-Lib MIN over the low series), period in
    [2, 100000], lookback period-1. Bit-identical to TA-Lib (see ``highest``: the
    tracked index of the minimum decides only the sign of a zero minimum).
    """
    x = as_series("lowest", "low", low)
    n = SPECS["lowest"].check_int("period", period)
    return _extreme(x, n, np.minimum, np.less)


def stddev(x: object, period: int = 5, nbdev: float = 1.0) -> FloatArray:
    """Standard deviation of the last `period` values times `nbdev` (TA-Lib STDDEV), period
    in [2, 100000], nbdev in [-3e37, 3e37], lookback period-1. Bit-identical to TA-Lib.

    TA-Lib's VAR: running sums S1 of x and S2 of x*x take x[0..n-2]; per bar both
    add x[t], the variance is S2/n - (S1/n)*(S1/n), then both drop x[t-n+1]
    (population variance). Output sqrt(variance)*nbdev, or 0.0 when the variance
    is below 1e-14. The sums are replayed in order (their cancellation decides
    the last bits), as for the Bollinger bands.
    """
    arr = as_series("stddev", "x", x)
    n = SPECS["stddev"].check_int("period", period)
    dev = SPECS["stddev"].check_float("nbdev", nbdev)
    out = k.head_nan(len(arr), n - 1)
    if len(arr) < n:
        return out
    sums = k.ChainPair((arr[: n - 1], np.square(arr[: n - 1])), False, True)
    for start, stop in k.chunks(len(arr) - n + 1):
        new, old = arr[n - 1 + start : n - 1 + stop], arr[start:stop]
        after_add = sums.step((new, np.square(new)), (old, np.square(old)))[0::2]
        var = after_add.imag / n
        var -= np.square(after_add.real / n)
        sd = np.sqrt(np.maximum(var, 0.0), out=out[n - 1 + start : n - 1 + stop])
        sd *= dev  # TA-Lib skips the product for nbdev 1.0: the same bits
        sd[var < k.TA_EPSILON] = 0.0
    return out


def _extreme(x: FloatArray, n: int, op: np.ufunc, beats: np.ufunc) -> FloatArray:
    """TA-Lib MAX (op maximum, beats greater) or MIN (minimum, less) of windows of n."""
    out = k.head_nan(len(x), n - 1)
    if len(x) < n:
        return out
    if not (np.signbit(x) & (x == 0.0)).any():  # no -0.0: equal values, equal bits
        out[n - 1 :] = k.rolling_max(x, n) if op is np.maximum else k.rolling_min(x, n)
    else:
        out[n - 1 :] = x[_talib_extreme_index(x, n, op, beats)]
    return out


def _talib_extreme_index(x: FloatArray, n: int, op: np.ufunc, beats: np.ufunc) -> list[int]:
    """The index TA-Lib's MAX/MIN loop reports for each window ending at t = n-1 ..

    TA-Lib keeps the index h of the extreme. When h has left the window it
    rescans it and takes the first index that strictly beats the rest (``first``
    below); otherwise a new value at least as extreme as x[h] takes over
    (``takes``: x[h] is then the extreme of the window without its newest bar).
    """
    first = _first_extreme_index(x, n, beats)
    takes = (x[n - 1 :] == op(x[n - 1 :], _windows(x[:-1], n - 1, op))).tolist()
    index: list[int] = []
    h = -1
    for i, (f, t) in enumerate(zip(first.tolist(), takes, strict=True)):
        if h < i:  # the window ending at n-1+i starts at i
            h = f
        elif t:
            h = n - 1 + i
        index.append(h)
    return index


def _windows(x: FloatArray, w: int, op: np.ufunc) -> FloatArray:
    """op-extreme of every window of w >= 1 values of x."""
    return k.rolling_max(x, w) if op is np.maximum else k.rolling_min(x, w)


def _first_extreme_index(x: FloatArray, n: int, beats: np.ufunc) -> IndexArray:
    """For each window of n, the first index of its extreme (a later value replaces an
    earlier one only if it strictly beats it, as in TA-Lib's rescan), by doubling widths."""
    idx = np.arange(len(x))
    width = 1
    while width * 2 <= n:
        idx = _pick(x, idx[:-width], idx[width:], beats)
        width *= 2
    if width < n:
        idx = _pick(x, idx[: len(idx) - (n - width)], idx[n - width :], beats)
    return idx


def _pick(x: FloatArray, left: IndexArray, right: IndexArray, beats: np.ufunc) -> IndexArray:
    """right where x[right] strictly beats x[left], else left (the earlier index)."""
    picked: IndexArray = np.where(beats(x[right], x[left]), right, left)
    return picked
