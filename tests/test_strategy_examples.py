"""Every example strategy in strategies/ loads, trades on simulated data without
errors, and uses the actions its header promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_strategy_support import walk

from engine.market.bar import Bar
from engine.market.feeds.simulated import SimulatedFeed
from engine.run import RunConfig, backtest
from engine.run.check import exercise
from engine.strategy import LuaStrategy

STRATEGIES = Path(__file__).resolve().parent.parent / "strategies"
EXAMPLES = sorted(STRATEGIES.glob("*.lua"))

#: Actions each example must take over 3000 simulated bars.
PROMISES = {
    "sma_crossover.lua": {"enter_long", "exit"},
    "rsi_mean_reversion.lua": {"enter_long", "auto-exit (take_profit)"},
    "bollinger_breakout.lua": {"enter_long", "cancel_analysis", "exit"},
    "macd_trend.lua": {"enter_long", "update_stop_loss", "exit"},
    "ema_breakdown_short.lua": {"enter_short", "exit", "auto-exit (stop_loss)"},
    "donchian_breakout.lua": {"enter_long", "order expired", "update_stop_loss",
                              "auto-exit (stop_loss)"},
    "limit_reversion.lua": {"enter_long", "order expired", "cancel_analysis",
                            "auto-exit (take_profit)", "auto-exit (stop_loss)"},
}


def test_the_required_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= set(PROMISES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_trades_on_simulated_data(path: Path) -> None:
    strategy = LuaStrategy(path)
    report = exercise(strategy, walk(3000, seed=42))
    assert report.errors == {}
    assert report.bars == 3000
    assert report.trades >= 5
    assert set(PROMISES.get(path.name, {"enter_long"})) <= set(report.actions)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_documented(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("--")  # a header comment says what it does
    assert "params = {" in text


def test_parameters_change_behaviour() -> None:
    path = STRATEGIES / "sma_crossover.lua"
    default = exercise(LuaStrategy(path), walk(2000, seed=3))
    faster = exercise(LuaStrategy(path, params={"fast": "5", "slow": "10"}), walk(2000, seed=3))
    assert faster.actions["enter_long"] > default.actions["enter_long"]


def test_the_guide_s_minimal_strategy_runs(tmp_path: Path) -> None:
    guide = (STRATEGIES.parent / "docs" / "strategies.md").read_text()
    code = guide.split("A minimal strategy:\n\n```lua\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "minimal.lua"
    path.write_text(code)
    report = exercise(LuaStrategy(path), walk(1000, seed=42))
    assert report.errors == {} and report.actions["enter_long"] > 0


# -- the order examples do what their headers say --------------------------------

BARS, SEED, CASH, FEE = 3000, 42, 10_000.0, 10e-4  # the run's defaults: 10 bps, no slippage


def example_run(tmp_path: Path, name: str) -> tuple[list[Bar], list[dict[str, object]]]:
    config = RunConfig(strategy=STRATEGIES / name, bars=BARS, seed=SEED,
                       journal=tmp_path / "j.sqlite")
    result = backtest(config)
    bars = list(SimulatedFeed(["BTCUSDT"], seed=SEED, bars=BARS).iter_bars())
    return bars, [dict(t) for t in result.trades]


def test_donchian_enters_at_the_channel_top_and_risks_its_fraction(tmp_path: Path) -> None:
    bars, trades = example_run(tmp_path, "donchian_breakout.lua")
    at = {b.timestamp: i for i, b in enumerate(bars)}
    assert len(trades) >= 5
    equity = CASH
    for t in trades:
        f = at[int(str(t["entry_timestamp"]))]
        # the buy stop was placed at bar f-1 at highest(20) of bars f-20..f-1; bar f fills
        # it at the stop, or at its open when it opened above (no slippage by default)
        level = max(b.high for b in bars[f - 20:f])
        assert float(str(t["entry_price"])) == pytest.approx(max(bars[f].open, level),
                                                             rel=1e-12)
        # sized by risk = 0.004 at a stop 2.5 ATR below: no trade loses more than 0.4 %
        # of the equity it was sized on (trailing the stop up only shrinks the loss)
        assert float(str(t["pnl"])) >= -0.004 * equity * (1 + 1e-9)
        equity += float(str(t["pnl"]))


def test_limit_reversion_buys_below_the_market_with_half_the_equity(tmp_path: Path) -> None:
    bars, trades = example_run(tmp_path, "limit_reversion.lua")
    at = {b.timestamp: i for i, b in enumerate(bars)}
    assert len(trades) >= 5
    equity = CASH
    for t in trades:
        f = at[int(str(t["entry_timestamp"]))]
        price, quantity = float(str(t["entry_price"])), float(str(t["quantity"]))
        # the limit sat below the close of its decision bar, one of the 3 bars before the
        # fill (expire = 3), and fills within the fill bar at the limit or a lower open
        assert bars[f].low <= price <= bars[f].high
        assert price < max(b.close for b in bars[f - 3:f])
        # size = 0.5: cost plus the entry fee is half the equity at the fill
        assert quantity * price * (1 + FEE) == pytest.approx(0.5 * equity, rel=1e-9)
        equity += float(str(t["pnl"]))
