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
    return np.unique(np.concatenate([[0, n - 1], lo, hi]).astype(np.int64))


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
