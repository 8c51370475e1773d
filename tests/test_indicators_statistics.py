"""Window statistics (highest, lowest, stddev): hand-computed values, TA-Lib's
index tracking down to the sign of a zero, and the Lua calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_strategy_support import Harness, load

from engine.errors import IndicatorError
from engine.indicators import highest, lowest, stddev, streaming

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


# stddev 3 on 1 2 3 4 6: window 1 2 3 -> mean 2, mean of squares 14/3, variance
# 14/3 - 4 = 2/3; 2 3 4 -> 3, 29/3, 2/3; 3 4 6 -> 13/3, 61/3, 61/3 - 169/9 = 14/9
CLOSES = [1.0, 2.0, 3.0, 4.0, 6.0]
SD1, SD2 = (2.0 / 3.0) ** 0.5, 14.0**0.5 / 3.0


@pytest.mark.parametrize("nbdev", [1.0, 2.0, -0.5])
def test_stddev_by_hand(nbdev: float) -> None:
    want = [NAN, NAN, SD1 * nbdev, SD1 * nbdev, SD2 * nbdev]
    got = stddev(CLOSES, 3, nbdev)
    assert np.isnan(got[:2]).all()
    assert got[2:].tolist() == pytest.approx(want[2:], rel=1e-13)
    streamed = stream_values("stddev", (3, nbdev), "close", CLOSES)
    assert same_bits(streamed, got.tolist())  # the same running sums in the same order


def test_stddev_of_a_constant_is_plus_zero_whatever_the_factor() -> None:
    # variance 0 < 1e-14: TA-Lib writes 0.0, not sqrt(0) * nbdev (-0.0 for nbdev < 0)
    assert same_bits(stddev([7.0] * 4, 2, -3.0), [NAN, 0.0, 0.0, 0.0])
    assert same_bits(stream_values("stddev", (2, -3.0), "close", [7.0] * 4), [NAN, 0.0, 0.0, 0.0])


def test_stddev_defaults_are_talibs() -> None:
    # period 5, nbdev 1: one window, 1 2 3 4 6 -> mean 16/5, mean of squares 66/5,
    # variance 66/5 - 256/25 = 74/25
    assert stddev(CLOSES)[-1] == pytest.approx((74.0 / 25.0) ** 0.5, rel=1e-13)


@pytest.mark.parametrize("params,field", [((1, 1.0), "period"), ((100_001, 1.0), "period"),
                                          ((5, 3.1e37), "nbdev"), ((5, NAN), "nbdev")])
def test_stddev_rejects_parameters_outside_talibs_range(
    params: tuple[float, float], field: str
) -> None:
    with pytest.raises(IndicatorError, match=rf"stddev.*'{field}'"):
        stddev(CLOSES, *params)  # type: ignore[arg-type]
    with pytest.raises(IndicatorError, match=rf"stddev.*'{field}'"):
        streaming.create("stddev", params)


def test_stddev_rejects_non_finite_closes() -> None:
    with pytest.raises(IndicatorError, match=r"stddev.*index 2"):
        stddev([1.0, 2.0, float("inf")], 2)
    with pytest.raises(IndicatorError, match=r"stddev.*'close' must be finite"):
        streaming.create("stddev").update(NAN)


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


def test_lua_stddev(tmp_path: Path) -> None:
    # closes 1 2 3 4 6 (the hand case above): stddev(3) = nil nil sqrt(2/3) sqrt(2/3) sqrt(14)/3;
    # the default factor 1 and an explicit 2 double it
    bars = [{"high": x * 1.01, "close": x, "low": x * 0.99} for x in CLOSES]
    seen = lua_prints(tmp_path, "ind.stddev(3), ind.stddev(3, 2)", bars)
    assert seen[:2] == ["nil\tnil", "nil\tnil"]
    got = [[float(v) for v in line.split("\t")] for line in seen[2:]]
    want = [[sd, 2 * sd] for sd in (SD1, SD1, SD2)]
    assert [v for pair in got for v in pair] == pytest.approx(
        [v for pair in want for v in pair], rel=1e-13)
