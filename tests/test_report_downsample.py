"""engine/report/downsample.py: the max/min of every bucket survive, by hand on tiny series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.report.downsample import bucket_ranges, bucket_size, minmax_indices


def test_short_series_are_kept_whole() -> None:
    assert minmax_indices(np.array([3.0, 1.0, 2.0]), 4).tolist() == [0, 1, 2]


def test_buckets_by_hand() -> None:
    # 10 points, max 6 -> (6 - 2) // 2 = 2 buckets of ceil(10 / 2) = 5 points
    v = np.array([5.0, 9.0, 1.0, 5.0, 5.0, 4.0, 4.0, 0.0, 4.0, 8.0])
    assert bucket_size(10, 6) == 5
    # bucket 0 (0..4): min at 2, max at 1; bucket 1 (5..9): min at 7, max at 9; plus 0 and 9
    assert minmax_indices(v, 6).tolist() == [0, 1, 2, 7, 9]


def test_a_padded_last_bucket_never_points_past_the_end() -> None:
    # 7 points, max 6 -> 2 buckets of 4: the second (4..6) is padded with v[6]
    v = np.array([1.0, 2.0, 3.0, 4.0, 7.0, 6.0, 5.0])
    assert minmax_indices(v, 6).tolist() == [0, 3, 4, 6]


def test_bucket_ranges_by_hand() -> None:
    high = np.array([2.0, 5.0, 3.0, 9.0, 4.0, 1.0, 8.0])
    low = np.array([1.0, 0.5, 2.0, 3.0, 0.1, 0.9, 7.0])
    # 7 points, max 6 -> buckets of 4 starting at 0 and 4
    starts, hi, lo = bucket_ranges(high, low, 6)
    assert starts.tolist() == [0, 4]
    assert hi.tolist() == [9.0, 8.0] and lo.tolist() == [0.5, 0.1]


@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=400),
       st.integers(4, 50))
def test_every_buckets_extremes_survive(values: list[float], max_points: int) -> None:
    v = np.array(values)
    idx = minmax_indices(v, max_points)
    assert idx.size <= max_points
    assert np.all(np.diff(idx) > 0) and idx[0] == 0 and idx[-1] == v.size - 1
    k = bucket_size(v.size, max_points)
    kept = v[idx]
    for start in range(0, v.size, k):
        chunk = v[start:start + k]
        assert chunk.min() in kept and chunk.max() in kept
    assert kept.min() == v.min() and kept.max() == v.max()


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="max_points"):
        minmax_indices(np.zeros(10), 3)
    with pytest.raises(ConfigError, match="differ in length"):
        bucket_ranges(np.zeros(3), np.zeros(2), 10)
