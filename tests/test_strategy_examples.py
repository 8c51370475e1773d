"""Every example strategy in strategies/ loads, trades on simulated data without
errors, and uses the actions its header promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_strategy_support import walk

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
}


def test_the_five_required_examples_exist() -> None:
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
