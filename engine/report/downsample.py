"""Max/min-preserving bucket downsampling of a long series, for drawing it.

A chart a thousand pixels wide cannot show 10^6 points; taking every k-th point
would hide a crash between two samples. These keep, for each bucket of
consecutive points, the lowest and the highest, so every peak and every trough
(a drawdown's bottom) is still drawn.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def sorted_unique(values: npt.ArrayLike) -> IntArray:
    """The distinct values of an integer array, increasing (``np.unique`` without its
    first call's import of ``numpy.ma``: ≈ 30 ms a process)."""
    a = np.sort(np.asarray(values, dtype=np.int64).ravel())
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if a.size else a


def median_int(values: IntArray) -> int:
    """``int(np.median(values))`` of a non-empty integer array, without ``np.median``:
    its first call imports ``numpy.ma`` too (≈ 7-12 ms of a run's process)."""
    lo, hi = (values.size - 1) // 2, values.size // 2
    middle = np.partition(values, (lo, hi))
    return int((float(middle[lo]) + float(middle[hi])) / 2)  # np.median's mean, in float64


def bucket_size(n: int, max_points: int) -> int:
    """Points per bucket so that two per bucket (plus the ends) fit in ``max_points``:
    ``ceil(n / ((max_points - 2) // 2))``; 1 when all ``n`` points fit."""
    if max_points < 4:
        raise ConfigError(f"downsample: max_points = {max_points} must be >= 4")
    if n <= max_points:
        return 1
    return -(-n // ((max_points - 2) // 2))


def minmax_indices(values: FloatArray, max_points: int) -> IntArray:
    """Indices (increasing) of at most ``max_points`` points of ``values``.

    All of them when ``len(values) <= max_points``; otherwise the first, the last,
    and in each bucket of ``bucket_size`` consecutive points the index of its
    minimum and of its maximum (the first occurrence; one index when they coincide).
    """
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    k = bucket_size(n, max_points)
    if k == 1:
        return np.arange(n, dtype=np.int64)
    buckets = -(-n // k)
    padded = np.concatenate([v, np.full(buckets * k - n, v[-1])]).reshape(buckets, k)
    base = np.arange(buckets, dtype=np.int64) * k
    # a padded copy of the last value is never chosen before the real one (first occurrence)
    lo = np.minimum(base + padded.argmin(axis=1), n - 1)
    hi = np.minimum(base + padded.argmax(axis=1), n - 1)
    return sorted_unique(np.concatenate([[0, n - 1], lo, hi]).astype(np.int64))


def bucket_ranges(
    high: FloatArray, low: FloatArray, max_points: int
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Per bucket (as in ``minmax_indices``): the index of its first point, the
    maximum of ``high`` and the minimum of ``low`` — the band a long OHLC series
    spans, to draw under its close line."""
    h = np.asarray(high, dtype=np.float64)
    lo_ = np.asarray(low, dtype=np.float64)
    if h.shape != lo_.shape:
        raise ConfigError(f"downsample: high {h.shape} and low {lo_.shape} differ in length")
    n = int(h.size)
    k = bucket_size(n, max_points)
    starts = np.arange(0, n, k, dtype=np.int64)
    if n == 0:
        return starts, h[:0], lo_[:0]
    return starts, np.maximum.reduceat(h, starts), np.minimum.reduceat(lo_, starts)


def group_extremes(
    groups: IntArray, lowest: tuple[FloatArray, ...], highest: tuple[FloatArray, ...]
) -> IntArray:
    """Positions (increasing, unique) to keep of points grouped into buckets.

    ``groups``: each point's bucket, non-decreasing. Per bucket, the position of the
    minimum of every array in ``lowest`` and of the maximum of every array in
    ``highest`` (the first occurrence on ties). Applied to buckets of buckets, it keeps
    exactly what it would keep from all the points at once: a bucket's minimum is the
    minimum of its halves' minima (how the journal's equity series merges pairs).
    """
    g = np.asarray(groups, dtype=np.int64)
    n = int(g.size)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
    keep: list[IntArray] = []
    for values, sign in [(v, 1.0) for v in lowest] + [(v, -1.0) for v in highest]:
        # stable sort by (bucket, ±value): the first of each bucket is its extreme
        order = np.lexsort((sign * np.asarray(values, dtype=np.float64), g))
        keep.append(order[starts])
    if not keep:
        raise ConfigError("downsample: group_extremes needs at least one array")
    return sorted_unique(np.concatenate(keep)).astype(np.int64)


def regular_extremes(first: int, k: int, lowest: tuple[FloatArray, ...],
                     highest: tuple[FloatArray, ...]) -> IntArray:
    """``group_extremes`` for consecutive points ``first, first + 1, …`` in buckets of
    ``k`` aligned to multiples of ``k`` (``first // k`` is the first one's bucket),
    by reshaping instead of sorting: linear in the points."""
    if k < 1:
        raise ConfigError(f"downsample: bucket size {k} must be >= 1")
    arrays = [(np.asarray(v, dtype=np.float64), 1.0) for v in lowest] + \
        [(np.asarray(v, dtype=np.float64), -1.0) for v in highest]
    if not arrays:
        raise ConfigError("downsample: regular_extremes needs at least one array")
    n = int(arrays[0][0].size)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    off = first % k
    buckets = -(-(off + n) // k)
    base = np.arange(buckets, dtype=np.int64) * k - off
    keep = []
    for values, sign in arrays:
        # padding (+inf after the sign flip) is never a bucket's minimum: every
        # bucket holds at least one real point
        padded = np.full(buckets * k, np.inf)
        padded[off:off + n] = sign * values
        keep.append(base + padded.reshape(buckets, k).argmin(axis=1))
    return sorted_unique(np.clip(np.concatenate(keep), 0, n - 1)).astype(np.int64)
