"""Vectorised numpy building blocks shared by the batch indicators.

Two kinds of running sums appear here on purpose:

* `chain_sum_*` reproduce TA-Lib's running sums *bit for bit*: TA-Lib adds the
  new value and subtracts the trailing one on one accumulator; laying those
  operands out in that order in one array and taking `np.cumsum` (a strictly
  sequential accumulation) performs the very same floating-point operations.
  Used where cancellation makes the last bits matter (BBANDS' sum of squares,
  MFI's money-flow sums).
* `window_sums` is the faster cumsum-difference, re-anchored every
  `_ANCHOR` values so its error stays below `_ANCHOR * eps * max|x|`
  (~7e-12 relative), well inside DESIGN's contract.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

TA_EPSILON = 1e-14
"""TA-Lib's zero test: -1e-14 < v < 1e-14 (TA_IS_ZERO)."""

_ANCHOR = 1 << 16


def nans(n: int) -> FloatArray:
    """An all-NaN float64 array of length n."""
    return np.full(n, np.nan)


def is_zero(v: FloatArray) -> BoolArray:
    """TA-Lib's TA_IS_ZERO, elementwise."""
    return (v > -TA_EPSILON) & (v < TA_EPSILON)


def seq_sum(values: FloatArray) -> float:
    """0.0 + values[0] + values[1] + ... in that order (TA-Lib's seed loops)."""
    if len(values) == 0:
        return 0.0
    return float(np.cumsum(values)[-1])


def window_sums(x: FloatArray, n: int) -> FloatArray:
    """Sums of x[t-n+1 .. t] for t = n-1 .. len(x)-1 (length len(x)-n+1)."""
    m = len(x) - n + 1
    out = np.empty(max(m, 0))
    for start in range(0, m, _ANCHOR):
        stop = min(start + _ANCHOR, m)
        c = np.cumsum(x[start : stop + n - 1])
        out[start] = c[n - 1]
        np.subtract(c[n:], c[: len(c) - n], out=out[start + 1 : stop])
    return out


def chain_sum_add_first(x: FloatArray, n: int) -> FloatArray:
    """TA-Lib's SMA-style running sum, bit-exact, for t = n-1 .. len(x)-1.

    S = 0; S += x[0..n-2]; then per t: S += x[t]; emit S; S -= x[t-n+1].
    """
    m = len(x) - n + 1
    z = np.empty(n - 1 + 2 * m)
    z[: n - 1] = x[: n - 1]
    z[n - 1 :: 2] = x[n - 1 :]
    np.negative(x[:m], out=z[n::2])
    return np.cumsum(z)[n - 1 :: 2]


def chain_sum_sub_first(first: FloatArray, later: FloatArray, trailing: FloatArray) -> FloatArray:
    """Running sum that subtracts the trailing value before adding (TA-Lib's MFI order).

    S = 0; S += first[...]; emit S; then per k: S -= trailing[k]; S += later[k]; emit S.
    """
    f = len(first)
    z = np.empty(f + 2 * len(later))
    z[:f] = first
    np.negative(trailing, out=z[f::2])
    z[f + 1 :: 2] = later
    return np.cumsum(z)[f - 1 :: 2]


def smooth(x: FloatArray, a: float, y0: float, b: float | None = None) -> FloatArray:
    """The linear recurrence y[t] = a*y[t-1] + b*x[t], with y[-1] = y0, in C (lfilter).

    `b` defaults to 1 - a (exact for a >= 0.5), so the filter's gain at zero
    frequency is exactly one in real arithmetic: a constant input stays constant.
    """
    if len(x) == 0:
        return np.empty(0)
    gain = 1.0 - a if b is None else b
    y, _ = lfilter([gain], [1.0, -a], x, zi=[a * y0])
    return np.asarray(y, dtype=np.float64)


def _rolling_extreme(
    x: FloatArray, n: int, ufunc: np.ufunc, fill: float
) -> FloatArray:
    """Exact extreme of x[t-n+1 .. t] for t >= n-1 (van Herk / Gil-Werman, O(len(x)))."""
    size = len(x)
    if n == 1:
        return x.copy()
    blocks_count = -(-size // n)
    padded = np.full(blocks_count * n, fill)
    padded[:size] = x
    cols = padded.reshape(blocks_count, n).T.copy()  # cols[i, k] = x[k*n + i]
    prefix = ufunc.accumulate(cols, axis=0).T.ravel()
    suffix = ufunc.accumulate(cols[::-1], axis=0)[::-1].T.ravel()
    out: FloatArray = ufunc(suffix[: size - n + 1], prefix[n - 1 : size])
    return out


def rolling_max(x: FloatArray, n: int) -> FloatArray:
    """Highest value of each window of n ending at t = n-1 .. len(x)-1."""
    return _rolling_extreme(x, n, np.maximum, -np.inf)


def rolling_min(x: FloatArray, n: int) -> FloatArray:
    """Lowest value of each window of n ending at t = n-1 .. len(x)-1."""
    return _rolling_extreme(x, n, np.minimum, np.inf)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """TA-Lib's TRANGE for bars 1 .. len-1 (length len-1), bit-exact."""
    prev_close = close[:-1]
    h, lo = high[1:], low[1:]
    greatest = h - lo
    np.maximum(greatest, np.abs(prev_close - h), out=greatest)
    np.maximum(greatest, np.abs(prev_close - lo), out=greatest)
    return greatest


def slot_order_sums(x: FloatArray, n: int) -> FloatArray:
    """Window sums in TA-Lib CCI's circular-buffer order, bit-exact.

    TA-Lib keeps bar t in slot t mod n and sums slots 0..n-1 sequentially, so
    the window ending at t = k*n + r is summed as x[kn], ..., x[kn+r], then
    x[(k-1)n+r+1], ..., x[(k-1)n+n-1]. Returns values for t = n-1 .. len(x)-1.
    """
    return _slot_order(x, n, None)


def slot_order_abs_dev(x: FloatArray, n: int, centre: FloatArray) -> FloatArray:
    """Sum over each window ending at t of |x[i] - centre[t]|, in CCI's slot order.

    `centre` holds one value per window (t = n-1 .. len(x)-1).
    """
    return _slot_order(x, n, centre)


def _blocks(x: FloatArray, n: int, offset: int = 0) -> FloatArray:
    """x laid out as (n, blocks): out[i, k] = x[k*n + i - offset] (zero-padded)."""
    blocks_count = -(-(len(x) + offset) // n)
    padded = np.zeros(blocks_count * n)
    padded[offset : offset + len(x)] = x
    return padded.reshape(blocks_count, n).T.copy()


def _slot_order(x: FloatArray, n: int, centre: FloatArray | None) -> FloatArray:
    cols = _blocks(x, n)
    blocks_count = cols.shape[1]
    centres = None if centre is None else _blocks(centre, n, n - 1)
    out = np.empty((n, blocks_count))
    for r in range(n):
        c = None if centres is None else centres[r]
        acc = _term(cols[0], c)
        for i in range(1, r + 1):
            acc += _term(cols[i], c)
        if blocks_count > 1:
            tail = acc[1:]  # blocks k >= 1: slots r+1.. still hold block k-1's bars
            c_tail = None if c is None else c[1:]
            for i in range(r + 1, n):
                tail += _term(cols[i, :-1], c_tail)
        out[r] = acc
    return out.T.ravel()[n - 1 : len(x)]


def _term(values: FloatArray, centre: FloatArray | None) -> FloatArray:
    if centre is None:
        return values.copy()
    dev = values - centre
    return np.abs(dev, out=dev)
