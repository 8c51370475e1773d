"""Vectorised numpy building blocks shared by the batch indicators.

Two kinds of running sums appear here on purpose:

* `chain_sum_*` reproduce TA-Lib's running sums *bit for bit*: TA-Lib adds the
  new value and subtracts the trailing one on one accumulator; laying those
  operands out in that order in one array and taking `np.cumsum` (a strictly
  sequential accumulation) performs the very same floating-point operations.
  Used where cancellation makes the last bits matter (BBANDS' sum of squares,
  MFI's money-flow sums).
* `window_sums` is the faster cumsum-difference, re-anchored every
  `ANCHOR` values so its error stays below `ANCHOR * eps * max|x|`
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

ANCHOR = 1 << 16
"""Re-anchoring interval of the cumulative sums (bounds their rounding error)."""


def nans(n: int) -> FloatArray:
    """An all-NaN float64 array of length n."""
    return np.full(n, np.nan)


def head_nan(size: int, lookback: int) -> FloatArray:
    """An uninitialised array of `size` whose first `lookback` values are NaN."""
    out = np.empty(size)
    out[: min(lookback, size)] = np.nan
    return out


def is_zero(v: FloatArray) -> BoolArray:
    """TA-Lib's TA_IS_ZERO, elementwise."""
    return (v > -TA_EPSILON) & (v < TA_EPSILON)


def seq_sum(values: FloatArray) -> float:
    """0.0 + values[0] + values[1] + ... in that order (TA-Lib's seed loops)."""
    if len(values) == 0:
        return 0.0
    return float(np.cumsum(values)[-1])


def window_sums(x: FloatArray, n: int, out: FloatArray | None = None) -> FloatArray:
    """Sums of x[t-n+1 .. t] for t = n-1 .. len(x)-1 (length len(x)-n+1)."""
    m = len(x) - n + 1
    if out is None:
        out = np.empty(max(m, 0))
    for start in range(0, m, ANCHOR):
        stop = min(start + ANCHOR, m)
        c = np.cumsum(x[start : stop + n - 1])
        out[start] = c[n - 1]
        np.subtract(c[n:], c[: len(c) - n], out=out[start + 1 : stop])
    return out


def chain_sum(
    first: FloatArray, ops: tuple[tuple[FloatArray, bool], tuple[FloatArray, bool]]
) -> FloatArray:
    """Replay a TA-Lib running sum exactly: S = 0; S += first[i]...; then per k the two
    operations S += (or -=) ops[0][0][k]; S += (or -=) ops[1][0][k] (the bool says
    subtract). Returns S after every operation (np.cumsum is strictly sequential, and
    S - v is S + (-v) exactly): the values after first's last element, ops[0]'s k-th
    and ops[1]'s k-th operation are at f-1, f+2k and f+2k+1 (f = len(first)).
    """
    f, m = len(first), len(ops[0][0])
    z = np.empty(f + 2 * m)
    z[:f] = first
    for slot, (values, subtract) in enumerate(ops):
        dest = z[f + slot :: 2]
        if subtract:
            np.negative(values, out=dest)
        else:
            dest[...] = values
    return np.cumsum(z, out=z)


def chain_sum_add_first(x: FloatArray, n: int) -> FloatArray:
    """TA-Lib's SMA running sum, bit-exact, for t = n-1 .. len(x)-1.

    S = 0; S += x[0..n-2]; then per t: S += x[t]; emit S; S -= x[t-n+1].
    """
    m = len(x) - n + 1
    return chain_sum(x[: n - 1], ((x[n - 1 :], False), (x[:m], True)))[n - 1 :: 2]


def chain_sum_sub_first(first: FloatArray, later: FloatArray, trailing: FloatArray) -> FloatArray:
    """Running sum that subtracts the trailing value before adding (TA-Lib's MFI order).

    S = 0; S += first[...]; emit S; then per k: S -= trailing[k]; S += later[k]; emit S.
    """
    return chain_sum(first, ((trailing, True), (later, False)))[len(first) - 1 :: 2]


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


def _rolling_extreme(x: FloatArray, n: int, op: np.ufunc) -> FloatArray:
    """Exact extreme of x[t-n+1 .. t] for t >= n-1, by doubling window widths.

    ext_w[i] is the extreme of x[i .. i+w-1]; ext_2w[i] = op(ext_w[i], ext_w[i+w]);
    for w <= n < 2w the window of n is covered by two overlapping windows of w.
    O(len(x) * log2(n)), contiguous vector operations only.
    """
    if len(x) < n:
        return np.empty(0)
    ext, width = x, 1
    while width * 2 <= n:
        ext = op(ext[:-width], ext[width:])
        width *= 2
    if width == n:
        return ext.copy() if ext is x else ext
    out: FloatArray = op(ext[: len(ext) - (n - width)], ext[n - width :])
    return out


def rolling_max(x: FloatArray, n: int) -> FloatArray:
    """Highest value of each window of n ending at t = n-1 .. len(x)-1."""
    return _rolling_extreme(x, n, np.maximum)


def rolling_min(x: FloatArray, n: int) -> FloatArray:
    """Lowest value of each window of n ending at t = n-1 .. len(x)-1."""
    return _rolling_extreme(x, n, np.minimum)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """TA-Lib's TRANGE for bars 1 .. len-1 (length len-1), bit-exact."""
    prev_close = close[:-1]
    h, lo = high[1:], low[1:]
    greatest = h - lo
    scratch = np.subtract(prev_close, h)
    np.maximum(greatest, np.abs(scratch, out=scratch), out=greatest)
    np.subtract(prev_close, lo, out=scratch)
    np.maximum(greatest, np.abs(scratch, out=scratch), out=greatest)
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
    scratch = np.empty(blocks_count)
    for r in range(n):
        c = None if centres is None else centres[r]
        acc = out[r]
        _put(acc, cols[0], c)
        for i in range(1, r + 1):
            acc += cols[i] if c is None else _put(scratch, cols[i], c)
        if blocks_count > 1:
            tail = acc[1:]  # blocks k >= 1: slots r+1.. still hold block k-1's bars
            c_tail = None if c is None else c[1:]
            for i in range(r + 1, n):
                prev = cols[i, :-1]
                tail += prev if c_tail is None else _put(scratch[1:], prev, c_tail)
    return out.T.ravel()[n - 1 : len(x)]


def _put(dest: FloatArray, values: FloatArray, centre: FloatArray | None) -> FloatArray:
    """dest = values (sums) or |values - centre| (deviations); returns dest."""
    if centre is None:
        dest[...] = values
    else:
        np.subtract(values, centre, out=dest)
        np.abs(dest, out=dest)
    return dest
