"""The agreement contract (docs/design.md §3): bounds, scaled error, ULP distance, reports.

Expected values are hand-computed from the definitions: float64 spacing near 1.0
is 2**-52, the smallest subnormal is 5e-324, and the bounds are docs/design.md's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.indicators.contract import (
    check_value,
    compare,
    input_scale,
    scaled_error,
    tolerance,
    tolerance_kind,
    ulp_distance,
)

ONE_UP = math.nextafter(1.0, 2.0)
ONE_DOWN = math.nextafter(1.0, 0.0)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1.0, 1.0, 0),
        (1.0, ONE_UP, 1),
        (ONE_DOWN, ONE_UP, 2),
        (0.0, -0.0, 0),
        (5e-324, -5e-324, 2),
        (0.0, 5e-324, 1),
        (-1.0, -ONE_UP, 1),
        (math.inf, 1.7976931348623157e308, 1),
        # From -max to +max: 2 * (bits of max) ULPs, more than int64 can hold.
        (-1.7976931348623157e308, 1.7976931348623157e308, 2 * 0x7FEFFFFFFFFFFFFF),
    ],
)
def test_ulp_distance_scalar_and_array_agree_with_hand_counts(
    a: float, b: float, expected: int
) -> None:
    assert ulp_distance(a, b) == expected
    assert ulp_distance(b, a) == expected
    arr = ulp_distance(np.array([a]), np.array([b]))
    assert int(arr[0]) == expected


def test_tolerance_kinds_follow_design() -> None:
    for name in ("rsi", "stoch", "willr", "mfi", "adx"):
        assert tolerance_kind(name) == "oscillator"
    assert tolerance_kind("cci") == "cci"
    assert tolerance_kind("CCI") == "cci"
    for name in ("sma", "ema", "wma", "macd", "bollinger", "atr", "obv", "roc", "mom"):
        assert tolerance_kind(name) == "price"


def test_price_bound_scales_with_largest_input_over_all_arrays() -> None:
    close = np.array([10.0, -20.0, 30.0])
    volume = np.array([0.0, 5e6])
    assert input_scale([close, volume]) == 5e6
    assert tolerance("obv", {"close": close, "volume": volume}) == pytest.approx(5e-3)
    assert tolerance("sma", [np.array([0.5])]) == 1e-9  # max(1, ...) floor
    assert tolerance("rsi", [np.array([1e9])]) == 1e-7
    assert input_scale([np.array([])]) == 1.0


def test_price_contract_edges() -> None:
    x = np.array([1e6, 2e6])  # bound = 1e-9 * 2e6 = 2e-3
    ok = compare("sma", np.array([np.nan, 100.0]), np.array([np.nan, 100.0019]), [x])
    bad = compare("sma", np.array([np.nan, 100.0]), np.array([np.nan, 100.0021]), [x])
    assert ok.ok
    assert ok.max_scaled_error == pytest.approx(0.95, rel=1e-6)
    assert not bad.ok
    fail = bad.first_failure
    assert fail is not None and fail.index == 1 and fail.reason == "value"
    assert fail.a == 100.0 and fail.b == 100.0021
    assert fail.scaled_error == pytest.approx(1.05, rel=1e-6)


def test_oscillator_bound_is_absolute_whatever_the_inputs() -> None:
    big = [np.array([1e9])]
    assert compare("rsi", np.array([50.0]), np.array([50.0 + 0.9e-7]), big).ok
    assert not compare("rsi", np.array([50.0]), np.array([50.0 + 1.1e-7]), big).ok


def test_cci_bound_is_relative_to_the_value() -> None:
    x = [np.array([1.0])]
    assert compare("cci", np.array([1000.0]), np.array([1000.0 + 0.9e-4]), x).ok
    assert not compare("cci", np.array([1000.0]), np.array([1000.0 + 1.1e-4]), x).ok
    # Below 1 in magnitude the bound is 1e-7 absolute.
    assert not compare("cci", np.array([0.5]), np.array([0.5 + 1.1e-7]), x).ok


def test_nan_mask_difference_is_a_failure_with_its_index() -> None:
    a = np.array([np.nan, np.nan, 1.0, 2.0])
    b = np.array([np.nan, 0.5, 1.0, 2.0])
    report = compare("ema", a, b, [np.array([2.0])])
    assert not report.ok
    fail = report.first_failure
    assert fail is not None and fail.index == 1 and fail.reason == "nan-mask"
    assert report.compared == 2 and report.bit_identical_share == 1.0


def test_multi_output_report_names_the_failing_output() -> None:
    base = np.array([np.nan, 1.0, 2.0, 3.0])
    other = base.copy()
    other[2] = 2.0 * (1.0 + 1e-7)
    a = (base, base, base)
    b = (base, other, base)
    report = compare("bollinger", a, b, [np.array([3.0])], outputs=("upper", "middle", "lower"))
    fail = report.first_failure
    assert fail is not None and fail.output == "middle" and fail.index == 2
    assert fail.ulp == ulp_distance(2.0, float(other[2]))
    assert report.compared == 9
    assert report.bit_identical_share == pytest.approx(8 / 9)
    assert "middle" in report.describe() and "index 2" in report.describe()


def test_identical_outputs_including_infinities_report_zero_error() -> None:
    a = np.array([np.nan, math.inf, -3.0, 0.0])
    report = compare("mom", a, a.copy(), [np.array([3.0])])
    assert report.ok and report.max_scaled_error == 0.0 and report.max_ulp == 0
    assert report.bit_identical_share == 1.0


def test_single_relative_perturbation_of_1e7_is_caught_on_a_long_series() -> None:
    rng = np.random.default_rng(7)
    x = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 1_000_000)))
    y = x.copy()
    y[654_321] *= 1.0 + 1e-7
    report = compare("sma", x, y, [x])
    fail = report.first_failure
    assert fail is not None and fail.index == 654_321
    assert report.max_ulp > 1e8  # 1e-7 relative is ~4.5e8 ULPs
    assert report.bit_identical_share == pytest.approx(1.0 - 1e-6)


def test_check_value_handles_missing_values_and_bounds() -> None:
    assert check_value("sma", None, math.nan, 10.0).ok
    missing = check_value("sma", None, 1.0, 10.0)
    assert not missing.ok and missing.scaled_error == math.inf
    near = check_value("sma", 5.0, 5.0 + 0.5e-8, 10.0)  # bound 1e-8
    assert near.ok and near.scaled_error == pytest.approx(0.5, rel=1e-6)
    assert not check_value("willr", -50.0, -50.0 + 2e-7, 1e9).ok
    assert check_value("sma", 1.0, ONE_UP, 1.0).ulp == 1


def test_scaled_error_scalar_and_array_agree() -> None:
    a = np.array([1.0, 2.0, 300.0])
    b = np.array([1.0 + 1e-10, 2.0, 300.0 + 1e-5])
    arr = scaled_error("cci", 1.0, a, b)
    for i in range(3):
        assert arr[i] == scaled_error("cci", 1.0, float(a[i]), float(b[i]))


def test_compare_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        compare("sma", np.zeros(3), np.zeros(4), [np.zeros(3)])


def test_scaled_error_accepts_an_indicator_name_or_a_kind() -> None:
    assert scaled_error("rsi", 1e9, 50.0, 50.0 + 5e-8) == pytest.approx(0.5, rel=1e-6)
    assert scaled_error("oscillator", 1e9, 50.0, 50.0 + 5e-8) == pytest.approx(0.5, rel=1e-6)
    assert scaled_error("SMA", 1e3, 50.0, 50.0 + 5e-7) == pytest.approx(0.5, rel=1e-6)
    assert tolerance_kind("price") == "price" and tolerance_kind("cci") == "cci"
