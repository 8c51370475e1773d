"""engine/report/stats.py against backtesting.py's ``Backtest.run()`` on the same trades.

backtesting.py (a dev dependency) runs a strategy with a fixed schedule of orders on a
deterministic daily series; its trades and equity curve are fed to our functions.
Where the definitions match the numbers are equal; where they differ (the module
docstring of engine/report/stats.py says why) the test recomputes backtesting.py's
formula from *our* inputs, which shows the inputs agree and only the definition differs.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd  # installed with backtesting (the dev extra): missing = an error, not a skip
import pytest
from backtesting import Backtest, Strategy

from engine.report import stats as S

DAY = 86_400_000
N = 60
#: bar index at which next() places the order -> filled at the next bar's open
SCHEDULE = {5: "buy", 12: "close", 15: "sell", 21: "close", 26: "buy", 33: "close",
            38: "sell", 47: "close"}


def _ohlc() -> pd.DataFrame:
    i = np.arange(N, dtype=np.float64)
    close = 100.0 + 10.0 * np.sin(i / 4.0) + 0.3 * i
    open_ = np.concatenate([[close[0]], close[:-1]]) + 0.5 * np.cos(i)
    return pd.DataFrame({
        "Open": open_, "High": np.maximum(open_, close) + 1.0,
        "Low": np.minimum(open_, close) - 1.0, "Close": close, "Volume": 1_000.0,
    }, index=pd.date_range("2024-01-01", periods=N, freq="D"))


class Scheduled(Strategy):  # type: ignore[misc]
    def init(self) -> None:
        pass

    def next(self) -> None:
        action = SCHEDULE.get(len(self.data) - 1)
        if action == "buy":
            self.buy(size=10)
        elif action == "sell":
            self.sell(size=10)
        elif action == "close":
            self.position.close()


def _ms(values: object) -> np.ndarray:
    return np.asarray((pd.DatetimeIndex(values) - pd.Timestamp("1970-01-01"))
                      // pd.Timedelta(1, "ms"), dtype=np.int64)


@pytest.fixture(scope="module")
def both() -> tuple[pd.Series, S.Statistics, S.EquitySeries, list[S.TradeRecord]]:
    data = _ohlc()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = Backtest(data, Scheduled, cash=10_000, commission=0.002,
                          finalize_trades=False).run()
    tdf = theirs["_trades"]
    equity = theirs["_equity_curve"]["Equity"].to_numpy(dtype=np.float64)
    assert len(tdf) == 4 and equity[0] == 10_000  # the schedule's four round trips
    # backtesting.py's first bar never trades: it is our starting point
    held = np.zeros(N, dtype=bool)
    for a, b in zip(tdf["EntryBar"], tdf["ExitBar"], strict=True):
        held[a:b + 1] = True  # the entry fills at a's open, the exit at b's open
    eq = S.EquitySeries(timestamps=_ms(data.index[1:]), equity=equity[1:], exposure=held[1:],
                        starting_equity=float(equity[0]), interval_ms=DAY)
    trades = [
        S.TradeRecord("long" if r.Size > 0 else "short", float(abs(r.Size)),
                      int(_ms([r.EntryTime])[0]), float(r.EntryPrice),
                      int(_ms([r.ExitTime])[0]), float(r.ExitPrice),
                      float(r.Commission), float(r.PnL))
        for r in tdf.itertuples()
    ]
    ours = S.compute_statistics(eq, trades, data["Close"].to_numpy())
    return theirs, ours, eq, trades


def _days(td: pd.Timedelta) -> float:
    return float(td / pd.Timedelta(days=1))


def test_equal_definitions(both: tuple[pd.Series, S.Statistics, S.EquitySeries,
                                       list[S.TradeRecord]]) -> None:
    theirs, ours, _, trades = both
    approx = pytest.approx
    assert ours.start_ms == _ms([theirs["Start"]])[0]
    assert ours.end_ms == _ms([theirs["End"]])[0]
    assert ours.duration_ms == _days(theirs["Duration"]) * DAY
    assert ours.equity_final == approx(theirs["Equity Final [$]"], rel=1e-12)
    assert ours.equity_peak == approx(theirs["Equity Peak [$]"], rel=1e-12)
    assert ours.return_pct == approx(theirs["Return [%]"], rel=1e-12)
    assert ours.buy_hold_return_pct == approx(theirs["Buy & Hold Return [%]"], rel=1e-12)
    assert ours.return_ann_pct == approx(theirs["Return (Ann.) [%]"], rel=1e-9)
    assert ours.calmar_ratio == approx(theirs["Calmar Ratio"], rel=1e-9)
    assert ours.max_drawdown_pct == approx(-theirs["Max. Drawdown [%]"], rel=1e-12)
    assert ours.avg_drawdown_pct == approx(-theirs["Avg. Drawdown [%]"], rel=1e-12)
    assert ours.max_drawdown_duration_ms == _days(theirs["Max. Drawdown Duration"]) * DAY
    # backtesting.py rounds the mean duration up to whole days (its data's resolution)
    assert ours.avg_drawdown_duration_ms is not None
    assert math.ceil(ours.avg_drawdown_duration_ms / DAY) == _days(
        theirs["Avg. Drawdown Duration"])
    assert ours.trades == theirs["# Trades"] == 4
    assert ours.win_rate_pct == approx(theirs["Win Rate [%]"], rel=1e-12)
    assert ours.best_trade_pct == approx(theirs["Best Trade [%]"], rel=1e-12)
    assert ours.worst_trade_pct == approx(theirs["Worst Trade [%]"], rel=1e-12)
    assert ours.avg_trade_pct == approx(theirs["Avg. Trade [%]"], rel=1e-12)
    assert ours.max_trade_duration_ms == _days(theirs["Max. Trade Duration"]) * DAY
    assert ours.avg_trade_duration_ms is not None
    assert math.ceil(ours.avg_trade_duration_ms / DAY) == _days(theirs["Avg. Trade Duration"])
    assert ours.expectancy_pct == approx(theirs["Expectancy [%]"], rel=1e-12)
    assert ours.sqn == approx(theirs["SQN"], rel=1e-12)
    assert ours.kelly_criterion == approx(theirs["Kelly Criterion"], rel=1e-12)
    assert ours.fees_paid == approx(theirs["Commissions [$]"], rel=1e-12)
    # the per-trade returns agree too
    assert [t.return_pct for t in trades] == approx(
        list(100 * theirs["_trades"]["ReturnPct"]), rel=1e-12)


def test_different_definitions_differ_only_by_their_formula(
        both: tuple[pd.Series, S.Statistics, S.EquitySeries, list[S.TradeRecord]]) -> None:
    theirs, ours, eq, trades = both
    approx = pytest.approx
    # exposure: backtesting.py divides by all N bars, we by the N - 1 marked ones
    assert ours.exposure_time_pct == approx(theirs["Exposure Time [%]"] * N / (N - 1), rel=1e-12)
    r = S.bar_returns(eq)
    assert r is not None and r.size == N - 1
    g = math.exp(np.log1p(r).mean()) - 1  # their geometric mean daily return
    ann = (1 + g) ** 365 - 1
    vol = math.sqrt((r.var(ddof=1) + (1 + g) ** 2) ** 365 - (1 + g) ** (2 * 365))
    assert theirs["Volatility (Ann.) [%]"] == approx(vol * 100, rel=1e-9)
    assert theirs["Sharpe Ratio"] == approx(ann / vol, rel=1e-9)
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert theirs["Sortino Ratio"] == approx(ann / (downside * math.sqrt(365)), rel=1e-9)
    rets = [t.return_pct for t in trades]
    pf_returns = sum(x for x in rets if x > 0) / -sum(x for x in rets if x < 0)
    assert theirs["Profit Factor"] == approx(pf_returns, rel=1e-12)
    # …and ours are the textbook ones on the same returns and P&Ls
    assert ours.volatility_ann_pct == approx(r.std(ddof=1) * math.sqrt(365) * 100, rel=1e-12)
    assert ours.sharpe_ratio == approx(r.mean() / r.std(ddof=1) * math.sqrt(365), rel=1e-12)
    assert ours.sortino_ratio == approx(r.mean() * math.sqrt(365) / downside, rel=1e-12)
    pnl = [t.pnl for t in trades]
    assert ours.profit_factor == approx(
        sum(x for x in pnl if x > 0) / -sum(x for x in pnl if x < 0), rel=1e-12)
