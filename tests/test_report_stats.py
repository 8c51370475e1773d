"""engine/report/stats.py against values computed by hand on tiny series."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.report import stats as S
from engine.report.labels import STATISTIC_ROWS, format_duration, format_value, statistic_rows

DAY = 86_400_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY  # a midnight


def series(equity: list[float], exposure: list[bool] | None = None, start: float = 100.0,
           interval: int = DAY) -> S.EquitySeries:
    n = len(equity)
    return S.EquitySeries(
        timestamps=np.array([T0 + (i + 1) * interval for i in range(n)], dtype=np.int64),
        equity=np.array(equity, dtype=np.float64),
        exposure=np.array(exposure if exposure is not None else [False] * n),
        starting_equity=start,
        interval_ms=interval,
    )


# Start 100, marks 110, 99, 99, 121 on days 1..4 (the start sits at day 0).
# r = [110/100-1, 99/110-1, 99/99-1, 121/99-1] = [0.1, -0.1, 0, 2/9]
# mean = (2/9)/4 = 1/18; deviations ×45: 2, -7, -2.5, 7.5 -> squares 4, 49, 6.25, 56.25
# sum 115.5/45², /3 (ddof 1) = 38.5/45², std = sqrt(38.5)/45
EQ = series([110.0, 99.0, 99.0, 121.0], [True, True, False, True])
STD = math.sqrt(38.5) / 45
SQRT_P = math.sqrt(365)


def test_returns_by_hand() -> None:
    r = S.bar_returns(EQ)
    assert r is not None
    assert r == pytest.approx([0.1, -0.1, 0.0, 2 / 9], abs=1e-15)


def test_time_and_level_statistics() -> None:
    assert S.start_ms(EQ) == T0  # day 1 - one interval
    assert S.end_ms(EQ) == T0 + 4 * DAY
    assert S.exposure_time_pct(EQ) == 75.0  # 3 of 4 bars
    assert S.equity_peak(EQ) == 121.0
    assert S.return_pct(EQ) == pytest.approx(21.0)  # (121 - 100) / 100
    assert S.bars_per_year(DAY) == 365.0
    assert S.bars_per_year(60_000) == 365 * 1440


def test_annualised_return_volatility_and_ratios() -> None:
    # (121/100)^(365/4) - 1: the geometric mean daily return compounded over 365 days
    ann = (1.21 ** (365 / 4) - 1) * 100
    assert S.annualised_return_pct(EQ) == pytest.approx(ann, rel=1e-12)
    assert S.annualised_volatility_pct(EQ) == pytest.approx(STD * SQRT_P * 100, rel=1e-12)
    assert S.sharpe_ratio(EQ) == pytest.approx((1 / 18) / STD * SQRT_P, rel=1e-12)
    # downside: min(r, 0) = [0, -0.1, 0, 0] -> sqrt(0.01 / 4) = 0.05
    assert S.sortino_ratio(EQ) == pytest.approx((1 / 18) * SQRT_P / 0.05, rel=1e-12)
    # max drawdown 10 % (110 -> 99)
    assert S.calmar_ratio(EQ) == pytest.approx(ann / 10, rel=1e-12)


def test_drawdowns_by_hand() -> None:
    # with the start: E = [100, 110, 99, 99, 121], peak = [100, 110, 110, 110, 121]
    # d = [0, 0, .1, .1, 0]: one episode from the peak on day 1 to the recovery on day 4
    assert S.drawdown_fraction(EQ) == pytest.approx([0, 0.1, 0.1, 0], abs=1e-15)
    assert S.max_drawdown_pct(EQ) == pytest.approx(10.0)
    assert S.drawdowns(EQ) == [S.Drawdown(pytest.approx(10.0), 3 * DAY)]  # type: ignore[arg-type]


def test_an_unrecovered_drawdown_ends_at_the_last_mark() -> None:
    # E = [100, 90, 95, 120, 114] on days 0..4, peak [100, 100, 100, 120, 120],
    # d = [0, .1, .05, 0, .05]: episode 1 from the start (day 0) to the recovery on day 3,
    # depth 10 %; episode 2 from day 3 to the last mark (day 4), unrecovered, depth 5 %
    eq = series([90.0, 95.0, 120.0, 114.0])
    dds = S.drawdowns(eq)
    assert [d.duration_ms for d in dds] == [3 * DAY, 1 * DAY]
    assert [d.depth_pct for d in dds] == pytest.approx([10.0, 5.0])
    st_ = S.compute_statistics(eq, [], np.array([1.0]))
    assert st_.avg_drawdown_pct == pytest.approx(7.5)
    assert st_.max_drawdown_duration_ms == 3 * DAY
    assert st_.avg_drawdown_duration_ms == 2 * DAY


@given(st.lists(st.floats(50.0, 150.0), min_size=1, max_size=40))
def test_drawdowns_follow_their_definition(equity: list[float]) -> None:
    """Episodes by the docstring's definition, walked mark by mark (the oracle of the
    vectorised ``drawdowns``): from a mark at the running peak to the next one (or
    the last mark), kept when equity fell below the peak in between."""
    eq = series([round(x) for x in equity])  # whole numbers: new peaks and ties are common
    marks = [100.0, *eq.equity.tolist()]
    times = [T0, *eq.timestamps.tolist()]
    peak, d = -math.inf, []
    for x in marks:
        peak = max(peak, x)
        d.append(1.0 - x / peak)
    at_peak = [i for i, x in enumerate(d) if x == 0.0 or i == len(d) - 1]
    want = [(100.0 * max(d[a + 1:b + 1]), times[b] - times[a])
            for a, b in itertools.pairwise(at_peak) if max(d[a + 1:b + 1]) > 0]
    assert [(x.depth_pct, x.duration_ms) for x in S.drawdowns(eq)] == want


def test_buy_and_hold() -> None:
    assert S.buy_hold_return_pct(np.array([50.0, 40.0, 60.0])) == pytest.approx(20.0)
    assert S.buy_hold_return_pct(np.array([])) is None


# Three trades (day ms):
# T1 long 2 @100 -> 110, fees 2: pnl 2*10 - 2 = 18, return 18/200 = 9 %, 2 days
# T2 short 1 @50 -> 55, fees 1: pnl -5 - 1 = -6, return -6/50 = -12 %, 1 day
# T3 long 1 @20 -> 23, fees 0: pnl 3, return 3/20 = 15 %, 3 days
TRADES = [
    S.TradeRecord("long", 2.0, T0, 100.0, T0 + 2 * DAY, 110.0, 2.0, 18.0, "strategy"),
    S.TradeRecord("short", 1.0, T0, 50.0, T0 + DAY, 55.0, 1.0, -6.0, "stop_loss"),
    S.TradeRecord("long", 1.0, T0, 20.0, T0 + 3 * DAY, 23.0, 0.0, 3.0, "take_profit"),
]


def test_trade_statistics_by_hand() -> None:
    assert [t.return_pct for t in TRADES] == pytest.approx([9.0, -12.0, 15.0])
    assert S.win_rate_pct(TRADES) == pytest.approx(200 / 3)
    assert S.best_trade_pct(TRADES) == pytest.approx(15.0)
    assert S.worst_trade_pct(TRADES) == pytest.approx(-12.0)
    # geometric: (1.09 * 0.88 * 1.15)^(1/3) - 1 = 1.10308^(1/3) - 1
    assert S.avg_trade_pct(TRADES) == pytest.approx((1.10308 ** (1 / 3) - 1) * 100)
    assert S.expectancy_pct(TRADES) == pytest.approx(4.0)  # (9 - 12 + 15) / 3
    assert S.max_trade_duration_ms(TRADES) == 3 * DAY
    assert S.avg_trade_duration_ms(TRADES) == 2 * DAY
    assert S.profit_factor(TRADES) == pytest.approx(3.5)  # (18 + 3) / 6
    # pnl [18, -6, 3]: mean 5, deviations 13, -11, -2 -> 294 / 2 = 147; sqrt(3)*5/sqrt(147) = 5/7
    assert S.sqn(TRADES) == pytest.approx(5 / 7)
    # W = 2/3, mean win 10.5, mean loss 6 -> 2/3 - (1/3) / 1.75 = 10/21
    assert S.kelly_criterion(TRADES) == pytest.approx(10 / 21)
    assert S.fees_paid(TRADES) == 3.0


def test_undefined_statistics_are_none() -> None:
    flat = series([100.0, 100.0, 100.0])
    s = S.compute_statistics(flat, [], np.array([1.0, 1.0, 1.0]))
    assert s.trades == 0 and s.fees_paid == 0.0
    for name in ("win_rate_pct", "best_trade_pct", "worst_trade_pct", "avg_trade_pct",
                 "max_trade_duration_ms", "avg_trade_duration_ms", "profit_factor",
                 "expectancy_pct", "sqn", "kelly_criterion",
                 "sharpe_ratio", "sortino_ratio", "calmar_ratio",  # zero volatility, no drawdown
                 "avg_drawdown_pct", "max_drawdown_duration_ms", "avg_drawdown_duration_ms"):
        assert getattr(s, name) is None, name
    assert s.volatility_ann_pct == 0.0 and s.max_drawdown_pct == 0.0
    winners = TRADES[:1] + TRADES[2:]
    assert S.profit_factor(winners) is None and S.kelly_criterion(winners) is None
    assert S.sqn(TRADES[:1]) is None


def test_an_empty_series_has_no_series_statistics() -> None:
    s = S.compute_statistics(series([]), [], np.array([]))
    assert s.bars == 0 and s.start_ms is None and s.duration_ms is None
    assert s.return_pct is None and s.max_drawdown_pct is None and s.sharpe_ratio is None
    assert s.equity_final == 100.0


def test_equity_at_or_below_zero() -> None:
    assert S.annualised_return_pct(series([50.0, 0.0])) == -100.0
    below = series([50.0, -10.0, 5.0])
    assert S.annualised_return_pct(below) is None
    assert S.bar_returns(below) is None and S.sharpe_ratio(below) is None
    assert S.max_drawdown_pct(below) == pytest.approx(110.0)  # 1 - (-10)/100


def test_a_lost_notional_makes_the_geometric_average_undefined() -> None:
    # short 1 @10 -> 25: pnl -15, return -150 %
    bad = [S.TradeRecord("short", 1.0, T0, 10.0, T0 + DAY, 25.0, 0.0, -15.0)]
    assert S.avg_trade_pct(bad) is None and S.expectancy_pct(bad) == -150.0


@given(st.lists(st.floats(-1e6, 1e9, allow_nan=False), min_size=0, max_size=30),
       st.integers(1, 10**9))
def test_never_nan_or_inf(values: list[float], interval: int) -> None:
    eq = series(values, start=1000.0, interval=interval)
    s = S.compute_statistics(eq, TRADES, np.array(values or [1.0]).clip(1e-3))
    for f in dataclasses.fields(s):
        v = getattr(s, f.name)
        assert v is None or math.isfinite(v), (f.name, v)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"equity": np.array([1.0])}, "one length"),
    ({"equity": np.array([1.0, math.nan])}, "equity[1]"),
    ({"timestamps": np.array([T0, T0])}, "strictly increasing"),
    ({"starting_equity": 0.0}, "starting_equity"),
    ({"starting_equity": math.inf}, "starting_equity"),
    ({"interval_ms": 0}, "interval_ms"),
    ({"interval_ms": True}, "interval_ms"),
])
def test_bad_equity_series(kwargs: dict[str, object], words: str) -> None:
    base: dict[str, object] = {
        "timestamps": np.array([T0, T0 + DAY]), "equity": np.array([1.0, 2.0]),
        "exposure": np.array([False, True]), "starting_equity": 1.0, "interval_ms": DAY}
    base.update(kwargs)
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        S.EquitySeries(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"side": "buy"}, "side"),
    ({"quantity": 0.0}, "quantity"),
    ({"entry_price": -1.0}, "entry_price"),
    ({"pnl": math.nan}, "pnl"),
    ({"exit_timestamp": T0 - 1}, "before"),
])
def test_bad_trade(kwargs: dict[str, object], words: str) -> None:
    base: dict[str, object] = {
        "side": "long", "quantity": 1.0, "entry_timestamp": T0, "entry_price": 1.0,
        "exit_timestamp": T0, "exit_price": 1.0, "fees": 0.0, "pnl": 0.0}
    base.update(kwargs)
    with pytest.raises(ConfigError, match=words):
        S.TradeRecord(**base)  # type: ignore[arg-type]


def test_labels_cover_every_statistic_once() -> None:
    names = [name for name, _, _ in STATISTIC_ROWS]
    fields = {f.name for f in dataclasses.fields(S.Statistics)} - {"bars_per_year"}
    assert sorted(names) == sorted(fields)


def test_formatting() -> None:
    assert format_duration(DAY + 2 * 3_600_000 + 3 * 60_000) == "1d 02:03"
    assert format_duration(5_000) == "00:00:05"
    assert format_value(None, "ratio") == "–"
    assert format_value(12.345, "pct") == "12.35 %"
    assert format_value(T0, "time") == "2023-11-14 00:00"
    rows = dict(statistic_rows(S.compute_statistics(EQ, TRADES, np.array([1.0, 2.0]))))
    assert rows["Trades"] == "3" and rows["Profit factor"] == "3.500"
