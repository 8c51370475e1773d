"""Vectorised numpy building blocks shared by the batch indicators.

Two kinds of running sums appear here on purpose:

* `Chain` replays a TA-Lib running sum *bit for bit*: TA-Lib adds the new
  value and subtracts the trailing one on one accumulator; laying those
  operands out in that order and taking `np.cumsum` (strictly sequential)
  performs the very same floating-point operations. Used where TA-Lib's
  rounding must be matched: cancellation (BBANDS' sum of squares, MFI's money
  flows) or drift beyond the contract (WMA's periodSum). `ChainPair` runs two
  such sums as one complex cumsum (np.cumsum is bound by the latency of its
  additions, and two independent chains overlap).
* `window_sums` is a faster running sum, restarted every `ANCHOR` values
  from a freshly summed window so its error stays below about
  `2 * ANCHOR * eps * max|x|` per mean (~1.5e-11 relative), well inside
  docs/design.md's contract.

The chunked kernels work on `CHUNK` values at a time so their buffers stay in
cache instead of allocating arrays the size of the input.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ComplexArray = npt.NDArray[np.complex128]

TA_EPSILON = 1e-14
"""TA-Lib's zero test: -1e-14 < v < 1e-14 (TA_IS_ZERO)."""

ANCHOR = 1 << 16
"""Re-anchoring interval of the cumulative sums (bounds their rounding error)."""


def head_nan(size: int, lookback: int) -> FloatArray:
    """An uninitialised array of `size` whose first `lookback` values are NaN."""
    out = np.empty(size)
    out[: min(lookback, size)] = np.nan
    return out


def seq_sum(values: FloatArray) -> float:
    """0.0 + values[0] + values[1] + ... in that order (TA-Lib's seed loops)."""
    if len(values) == 0:
        return 0.0
    return float(np.cumsum(values)[-1])


def window_sums(
    x: FloatArray, n: int, out: FloatArray | None = None, divisor: float = 1.0
) -> FloatArray:
    """Sums of x[t-n+1 .. t] (divided by `divisor`) for t = n-1 .. len(x)-1.

    A running sum restarted every ANCHOR windows: each segment starts from the
    (pairwise) sum of its first window, then adds x[t] - x[t-n]. Its rounding
    error stays below about 2 * ANCHOR * eps * n * max|x| (1.5e-11 * n * max|x|),
    far inside docs/design.md's contract once divided by n. Two segments run at once as
    the real and imaginary parts of one complex cumsum: np.cumsum is bound by
    the latency of its additions, and two independent chains overlap.
    """
    m = len(x) - n + 1
    if out is None:
        out = np.empty(max(m, 0))
    buf = np.empty(min(ANCHOR, max(m, 0)), np.complex128)
    for first in range(0, m, 2 * ANCHOR):
        segments = [(s, min(s + ANCHOR, m)) for s in (first, first + ANCHOR) if s < m]
        z = buf[: segments[0][1] - segments[0][0]]
        parts = (z.real, z.imag)
        if len(segments) == 1:
            z.imag[...] = 0.0
        for part, (start, stop) in zip(parts, segments, strict=False):
            size = stop - start
            part[0] = np.add.reduce(x[start : start + n])
            np.subtract(x[start + n : stop + n - 1], x[start : stop - 1], out=part[1:size])
            part[size:] = 0.0
        np.cumsum(z, out=z)
        for part, (start, stop) in zip(parts, segments, strict=False):
            np.divide(part[: stop - start], divisor, out=out[start:stop])
    return out


CHUNK = 1 << 15
"""Values per step of the chunked kernels: their buffers stay in cache."""


def chunks(total: int, size: int = CHUNK) -> Iterator[tuple[int, int]]:
    """(start, stop) ranges covering [0, total) in steps of `size`."""
    for start in range(0, total, size):
        yield start, min(start + size, total)


class Chain:
    """A TA-Lib running sum replayed exactly with numpy, one chunk at a time.

    S starts as 0.0 + first[0] + first[1] + ...; each step then applies, for
    every k, S += a[k] and S += b[k] (subtracting when the flag says so). Exact
    because np.cumsum accumulates strictly in order, S - v == S + (-v), and the
    carried S is added to a chunk's first operand: the same single rounding as
    the next step of the sequential loop.
    """

    __slots__ = ("_sub_a", "_sub_b", "_z", "carry")

    def __init__(self, first: FloatArray, sub_a: bool, sub_b: bool) -> None:
        self.carry = seq_sum(first)
        self._sub_a, self._sub_b = sub_a, sub_b
        self._z = np.empty(2 * CHUNK)

    def step(self, a: FloatArray, b: FloatArray, emit: int) -> FloatArray:
        """Apply len(a) <= CHUNK pairs of operations; return S after each a (emit 0) or
        each b (emit 1), as a view that the next step overwrites."""
        z = self._z[: 2 * len(a)]
        for slot, values, negate in ((0, a, self._sub_a), (1, b, self._sub_b)):
            if negate:
                np.negative(values, out=z[slot::2])
            else:
                z[slot::2] = values
        if len(z):
            z[0] += self.carry
            np.cumsum(z, out=z)
            self.carry = float(z[-1])
        return z[emit::2]


class ChainPair:
    """Two independent TA-Lib running sums replayed together, as the real and
    imaginary parts of one complex cumsum.

    Complex addition adds the two parts separately (two IEEE additions, no
    mixing), so each part is bit-identical to its own `Chain`; but np.cumsum is
    bound by the latency of its additions, and two independent chains overlap,
    so the pair costs little more than one chain. Same operand rules as Chain:
    per k, S += a[k] then S += b[k] (negated when the flag says so).
    """

    __slots__ = ("_sub_a", "_sub_b", "_z", "carry")

    def __init__(self, first: tuple[FloatArray, FloatArray], sub_a: bool, sub_b: bool) -> None:
        self.carry = complex(seq_sum(first[0]), seq_sum(first[1]))
        self._sub_a, self._sub_b = sub_a, sub_b
        self._z = np.empty(2 * CHUNK, np.complex128)

    def step(
        self, a: tuple[FloatArray, FloatArray], b: tuple[FloatArray, FloatArray]
    ) -> ComplexArray:
        """Apply len(a[0]) <= CHUNK pairs of operations to both sums (all four operand
        arrays of that length); return z with z[0::2] the sums after each a and
        z[1::2] after each b (.real: the first sum, .imag: the second), as a
        view that the next step overwrites."""
        z = self._z[: 2 * len(a[0])]
        for slot, operands, negate in ((0, a, self._sub_a), (1, b, self._sub_b)):
            for part, values in zip((z.real, z.imag), operands, strict=True):
                if negate:
                    np.negative(values, out=part[slot::2])
                else:
                    part[slot::2] = values
        if len(z):
            z[0] += self.carry
            np.cumsum(z, out=z)
            self.carry = complex(z[-1])
        return z


def smooth(
    x: FloatArray,
    a: float,
    y0: float,
    b: float | None = None,
    out: FloatArray | None = None,
) -> FloatArray:
    """The linear recurrence y[t] = a*y[t-1] + b*x[t], with y[-1] = y0, in C (lfilter).

    `b` defaults to 1 - a (exact for a >= 0.5), so the filter's gain at zero
    frequency is exactly one in real arithmetic: a constant input stays constant.
    Runs in chunks carrying lfilter's state (identical results, small buffers).
    """
    # Imported here, not at module level: scipy.signal costs ~0.75 s to import,
    # and a strategy run (streaming indicators only) never needs it.
    from scipy.signal import lfilter

    gain = 1.0 - a if b is None else b
    state = np.array([a * y0])
    if out is None and len(x) <= ANCHOR:  # one call: lfilter's own array, no copy
        y: FloatArray = lfilter([gain], [1.0, -a], x, zi=state)[0]
        return y
    if out is None:
        out = np.empty(len(x))
    for start in range(0, len(x), ANCHOR):
        stop = min(start + ANCHOR, len(x))
        y, state = lfilter([gain], [1.0, -a], x[start:stop], zi=state)
        out[start:stop] = y
    return out


def smooth_rows(rows: FloatArray, a: float, y0: FloatArray, b: float) -> FloatArray:
    """`smooth` of each row of a (k, m) array (m <= ANCHOR) in one lfilter call, the
    row r starting from y0[r]; same values as k separate calls."""
    from scipy.signal import lfilter  # lazily, as in smooth

    y: FloatArray = lfilter([b], [1.0, -a], rows, axis=-1, zi=(a * y0)[:, None])[0]
    return y


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


def true_range(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    out: FloatArray | None = None,
    scratch: FloatArray | None = None,
) -> FloatArray:
    """TA-Lib's TRANGE for bars 1 .. len-1 (length len-1), bit-exact.

    When high >= low on every bar, TA-Lib's max(h - l, |pc - h|, |pc - l|) is
    max(h, pc) - min(l, pc) bit for bit (that difference is the largest exact
    one, and rounding keeps the order), in three passes instead of seven.
    `out` and `scratch` (len-1 values each) avoid allocating.
    """
    prev_close = close[:-1]
    h, lo = high[1:], low[1:]
    size = len(h)
    out = np.empty(size) if out is None else out
    scratch = np.empty(size) if scratch is None else scratch
    if bool(np.greater_equal(h, lo).all()):
        np.maximum(h, prev_close, out=out)
        out -= np.minimum(lo, prev_close, out=scratch)
        return out
    np.subtract(h, lo, out=out)
    np.abs(np.subtract(prev_close, h, out=scratch), out=scratch)
    np.maximum(out, scratch, out=out)
    np.abs(np.subtract(prev_close, lo, out=scratch), out=scratch)
    return np.maximum(out, scratch, out=out)


def slot_order_mean_dev(x: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """TA-Lib CCI's window mean and sum of absolute deviations, for t = n-1 .. len(x)-1.

    TA-Lib keeps bar t in slot t mod n and sums slots 0..n-1 in order, so the
    window ending at t = k*n + r is summed as x[kn], ..., x[kn+r], then
    x[(k-1)n+r+1], ..., x[(k-1)n+n-1]. Both sums follow that order, so they are
    bit-identical (tp - mean cancels: its last bits matter). Works on the
    series as rows of n bars, a few rows at a time so the buffers stay in
    cache: for each r, the n slot values of every window ending at r are
    gathered as rows and reduced along axis 0, which numpy does row after row
    in order (pairwise summation applies only along the contiguous axis).
    """
    if n > _BLOCK_MAX_PERIOD and len(x) < 64 * n:  # few blocks: n*n tiny steps cost more
        return _slot_order_broadcast(x, n)
    blocks = _blocks(x, n)  # blocks[1 + k, i] = x[k*n + i]
    blocks_count = len(blocks) - 1
    means, devs = np.empty((blocks_count, n)), np.empty((blocks_count, n))  # [k, r]: t = k*n + r
    width = min(max(1, _GATHER_VALUES // n), blocks_count)
    cols, g = np.empty((n, width + 1)), np.empty((n, width))
    sums, dev_sums = np.empty((n, width)), np.empty((n, width))
    for start, stop in chunks(blocks_count, width):
        w = stop - start
        c = cols[:, : w + 1]  # c[i, 0] = the previous block's slot i
        np.copyto(c, blocks[start : stop + 1].T)
        for r in range(n):
            g[: r + 1, :w] = c[: r + 1, 1:]  # this block's slots 0..r
            g[r + 1 :, :w] = c[r + 1 :, :-1]  # the previous block's r+1..n-1
            mean = _sum_rows(g[:, :w], sums[r, :w])
            mean /= n
            np.subtract(g[:, :w], mean, out=g[:, :w])
            _sum_rows(np.abs(g[:, :w], out=g[:, :w]), dev_sums[r, :w])
        means[start:stop] = sums[:, :w].T
        devs[start:stop] = dev_sums[:, :w].T
    size = len(x)
    return means.ravel()[n - 1 : size], devs.ravel()[n - 1 : size]


def _sum_rows(a: FloatArray, out: FloatArray) -> FloatArray:
    """Column sums of `a` (shape (rows, w)) into `out`, adding row after row in order.

    np.add.reduce along axis 0 adds row after row only while the output has
    several elements; with a single column numpy reduces along the one
    remaining axis with pairwise summation (8 partial sums from 8 rows up), a
    different order. np.cumsum is sequential, so a single column goes through it.
    """
    if a.shape[1] == 1:
        out[0] = np.cumsum(a[:, 0])[-1]
        return out
    return np.add.reduce(a, axis=0, out=out)


_GATHER_VALUES = 1 << 15
"""Values gathered per step of slot_order_mean_dev (n rows of this / n windows)."""

_BLOCK_MAX_PERIOD = 32


def _slot_order_broadcast(x: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """Same sums, one vector step per slot j: slot j holds bar j + q*n for every
    window ending at t in [j + q*n, j + q*n + n - 1], so it is added to n
    consecutive windows at once by broadcasting."""
    size = len(x)
    padded = size + n
    means = np.zeros(padded)
    for j in range(n):
        vals = x[j::n]
        means[j : j + n * len(vals)].reshape(len(vals), n)[...] += vals[:, None]
    means /= n
    devs = np.zeros(padded)
    scratch = np.empty(padded)
    for j in range(n):
        vals = x[j::n]
        span = slice(j, j + n * len(vals))
        dev = np.subtract(vals[:, None], means[span].reshape(len(vals), n),
                          out=scratch[span].reshape(len(vals), n))
        devs[span].reshape(len(vals), n)[...] += np.abs(dev, out=dev)
    return means[n - 1 : size], devs[n - 1 : size]


def _blocks(x: FloatArray, n: int) -> FloatArray:
    """x as rows of n (zero-padded): out[1 + k, i] = x[k*n + i], after a row of zeros
    standing for the bars before the series."""
    blocks_count = -(-len(x) // n)
    padded = np.zeros((blocks_count + 1) * n)
    padded[n : n + len(x)] = x
    return padded.reshape(blocks_count + 1, n)
