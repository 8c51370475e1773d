"""Window statistics (highest, lowest, stddev): hand-computed values, TA-Lib's
index tracking down to the sign of a zero, and the Lua calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_strategy_support import Harness, load

from engine.errors import IndicatorError
from engine.indicators import highest, lowest, streaming

NAN = float("nan")


def stream_values(name: str, params: tuple[float, ...], field: str, xs: list[float]) -> list[float]:
    """The stream's output after each value of `xs` fed as `field` (NaN while warming up)."""
    s = streaming.create(name, params)
    out = []
    for x in xs:
        bar = {"high": 0.0, "low": 0.0, "close": 0.0, "volume": 0.0, field: x}
        v = s.update_hlcv(bar["high"], bar["low"], bar["close"], bar["volume"])
        out.append(NAN if v is None else float(v))  # type: ignore[arg-type]
    return out


def same_bits(a: list[float] | np.ndarray, b: list[float]) -> bool:
    """Equal including NaN positions and the sign of zeros."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return x.shape == y.shape and bool(
        np.all(np.isnan(x) == np.isnan(y))
        and np.all((x == y)[~np.isnan(y)])
        and np.all(np.signbit(x) == np.signbit(y))
    )


# windows of 3 over 3 1 4 1 5 9 2 6: [3 1 4] [1 4 1] [4 1 5] [1 5 9] [5 9 2] [9 2 6]
HIGHS = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
HIGHEST_3 = [NAN, NAN, 4.0, 4.0, 5.0, 9.0, 9.0, 9.0]

# TA-Lib's MAX loop on -1, 0, -1, -0: at bar 2 its index is unset, so it scans the
# window and keeps the first strict maximum (bar 1, +0); at bar 3 bar 1 is still
# inside and -0 >= +0, so the newest value takes over: -0.
# On 0, -0, -1 with period 2: bar 1 scans [0, -0] (-0 > 0 is false: +0); at bar 2 the
# index (bar 0) has left, the scan of [-0, -1] gives -0.
ZERO_CASES_MAX = [
    ([-1.0, 0.0, -1.0, -0.0], 3, [NAN, NAN, 0.0, -0.0]),
    ([0.0, -0.0, -1.0], 2, [NAN, 0.0, -0.0]),
]


def test_highest_by_hand() -> None:
    assert same_bits(highest(HIGHS, 3), HIGHEST_3)
    assert same_bits(stream_values("highest", (3,), "high", HIGHS), HIGHEST_3)
    assert same_bits(highest(HIGHS[:2], 3), [NAN, NAN])  # shorter than the window
    assert same_bits(highest(HIGHS, 8), [NAN] * 7 + [9.0])


@pytest.mark.parametrize("xs,n,want", ZERO_CASES_MAX)
def test_highest_reports_talibs_tracked_zero(xs: list[float], n: int, want: list[float]) -> None:
    assert same_bits(highest(xs, n), want)
    assert same_bits(stream_values("highest", (n,), "high", xs), want)


def test_highest_reads_the_high_series() -> None:
    s = streaming.create("highest", (2,))
    s.update_hlcv(5.0, 1.0, 2.0, 0.0)
    assert s.update_hlcv(3.0, 0.5, 9.0, 0.0) == 5.0  # the highs 5, 3; not the close 9


@pytest.mark.parametrize("period", [1, 0, 100_001, 2.5])
def test_highest_rejects_periods_outside_talibs_range(period: float) -> None:
    with pytest.raises(IndicatorError, match=r"highest.*period"):
        highest(HIGHS, period)  # type: ignore[arg-type]
    with pytest.raises(IndicatorError, match=r"highest.*period"):
        streaming.create("highest", (period,))


def test_highest_rejects_a_non_finite_high() -> None:
    with pytest.raises(IndicatorError, match=r"highest.*'high'.*index 1"):
        highest([1.0, NAN, 2.0], 2)


# windows of 3 over the same values: minima 1 1 1 1 2 2
LOWEST_3 = [NAN, NAN, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]

# The mirror of the MAX cases: on 1, -0, 1, 0 (period 3) bar 2 scans and keeps bar 1
# (-0 < 1); at bar 3 bar 1 is inside and 0 <= -0, so the newest takes over: +0. On
# -0, 0, 1 (period 2) bar 1 scans [-0, 0] (0 < -0 is false: -0); bar 2 scans [0, 1].
ZERO_CASES_MIN = [
    ([1.0, -0.0, 1.0, 0.0], 3, [NAN, NAN, -0.0, 0.0]),
    ([-0.0, 0.0, 1.0], 2, [NAN, -0.0, 0.0]),
]


def test_lowest_by_hand() -> None:
    assert same_bits(lowest(HIGHS, 3), LOWEST_3)
    assert same_bits(stream_values("lowest", (3,), "low", HIGHS), LOWEST_3)
    assert same_bits(lowest(HIGHS, 8), [NAN] * 7 + [1.0])


@pytest.mark.parametrize("xs,n,want", ZERO_CASES_MIN)
def test_lowest_reports_talibs_tracked_zero(xs: list[float], n: int, want: list[float]) -> None:
    assert same_bits(lowest(xs, n), want)
    assert same_bits(stream_values("lowest", (n,), "low", xs), want)


def test_lowest_reads_the_low_series() -> None:
    s = streaming.create("lowest", (2,))
    s.update_hlcv(5.0, 3.0, 4.0, 0.0)
    assert s.update_hlcv(6.0, 4.0, 0.5, 0.0) == 3.0  # the lows 3, 4; not the close 0.5


@pytest.mark.parametrize("period", [1, 100_001, 30.5])
def test_lowest_rejects_periods_outside_talibs_range(period: float) -> None:
    with pytest.raises(IndicatorError, match=r"lowest.*period"):
        lowest(HIGHS, period)  # type: ignore[arg-type]
    with pytest.raises(IndicatorError, match=r"lowest.*period"):
        streaming.create("lowest", (period,))


def test_lowest_rejects_a_non_finite_low() -> None:
    with pytest.raises(IndicatorError, match=r"lowest.*'low'.*index 0"):
        lowest([float("inf"), 1.0], 2)


def lua_prints(tmp_path: Path, call: str, bars: list[dict[str, float]]) -> list[str]:
    """What `print(<call>)` shows in detect_opportunity, one line per bar."""
    seen: list[str] = []
    strategy = load(tmp_path, f"function detect_opportunity(md, c, ind) print({call}) end",
                    log=seen.append)
    h = Harness(strategy)
    for b in bars:
        h.next(b["close"], high=b["high"], low=b["low"])
    return seen


def test_lua_highest(tmp_path: Path) -> None:
    # highs 10 12 11 9, closes one below, lows two below: highest(3) = nil nil 12 12
    bars = [{"high": x, "close": x - 1, "low": x - 2} for x in (10.0, 12.0, 11.0, 9.0)]
    assert lua_prints(tmp_path, "ind.highest(3)", bars) == ["nil", "nil", "12.0", "12.0"]


def test_lua_lowest(tmp_path: Path) -> None:
    # lows 8 10 9 7 (highs two above): lowest(2) = nil 8 9 7
    bars = [{"high": x + 2, "close": x + 1, "low": x} for x in (8.0, 10.0, 9.0, 7.0)]
    assert lua_prints(tmp_path, "ind.lowest(2)", bars) == ["nil", "8.0", "9.0", "7.0"]
