"""SymbolRunner: per-bar order, error policy, duplicates and rejections, journaling.

A scripted Python strategy stands in for Lua here so each test controls exactly
what the strategy does on which bar; the Lua path is covered by test_run_cli.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from factories import make_bar

from engine.errors import StrategyError
from engine.indicators.api import IndicatorApi
from engine.market.bar import Bar
from engine.market.window import MarketDataWindow
from engine.run.journal import Journal
from engine.run.runner import SymbolRunner
from engine.state import CancelAnalysis, EnterLong, Exit, State, StateMachine
from engine.state.costs import Costs
from engine.state.position import ClosedTrade

Script = Callable[[int, Bar, StateMachine], ClosedTrade | None]


@dataclass
class ScriptedStrategy:
    """Calls ``script(call_index, bar, machine)``; records the state seen per call."""

    script: Script
    path: str = "scripted.lua"
    sha256: str = "0" * 64
    params: dict[str, object] = field(default_factory=dict)
    seen: list[tuple[int, State]] = field(default_factory=list)

    def step(self, bar: Bar, machine: StateMachine, api: object) -> ClosedTrade | None:
        self.seen.append((bar.timestamp, machine.state))
        return self.script(len(self.seen) - 1, bar, machine)


class CountingApi(IndicatorApi):
    def __init__(self) -> None:
        super().__init__("BTCUSDT", MarketDataWindow(10))
        self.bars: list[int] = []

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar.timestamp)


def make_runner(tmp_path: Path, script: Script, max_errors: int = 3) -> SymbolRunner:
    journal = Journal(tmp_path / "j.sqlite", flush_interval_s=0.0)
    journal.start_run(
        command=["test"], strategy_path="scripted.lua", strategy_sha256="0" * 64, params={},
        symbols=["BTCUSDT"], feed="test", seed=None, fee_bps=0.0, slippage_bps=0.0,
    )
    window = MarketDataWindow(100)
    machine = StateMachine(costs=Costs(fee_bps=0.0))
    return SymbolRunner(
        "BTCUSDT", ScriptedStrategy(script), machine, window, CountingApi(),
        journal, max_errors=max_errors,
    )


def rows(runner: SymbolRunner, sql: str) -> list[tuple[object, ...]]:
    journal = runner.journal
    assert isinstance(journal, Journal)
    journal.flush()
    with sqlite3.connect(journal.path) as db:
        return db.execute(sql).fetchall()


def enter_with_stop(machine: StateMachine, b: Bar, stop: float) -> None:
    if machine.state is State.IDLE:
        machine.begin_analysis({}, b)
    else:
        machine.execute(EnterLong(quantity=1.0, stop_loss=stop), b)


def test_auto_exit_runs_before_the_strategy_which_then_sees_idle(tmp_path: Path) -> None:
    def script(k: int, b: Bar, m: StateMachine) -> None:
        if k < 2:
            enter_with_stop(m, b, stop=95.0)  # bar 0: analyze, bar 1: enter at 100

    runner = make_runner(tmp_path, script)
    runner.on_bar(make_bar(0))
    runner.on_bar(make_bar(1))
    runner.on_bar(make_bar(2, low=94.0))  # touches the stop
    strategy = runner.strategy
    assert isinstance(strategy, ScriptedStrategy)
    assert [s for _, s in strategy.seen] == [State.IDLE, State.ANALYZING, State.IDLE]
    assert rows(runner, "SELECT exit_reason, exit_price, pnl FROM trades") == [
        ("stop_loss", 95.0, -5.0)
    ]
    assert rows(runner, "SELECT from_state, to_state, reason FROM transitions ORDER BY id") == [
        ("idle", "analyzing", "detect_opportunity"),
        ("analyzing", "in_position", "enter_long"),
        ("in_position", "idle", "stop_loss"),
    ]
    assert runner.stats.trades == 1 and runner.stats.pnl == -5.0


def test_every_accepted_bar_reaches_the_indicator_api_once(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, lambda k, b, m: None)
    for i in range(5):
        runner.on_bar(make_bar(i))
    runner.on_bar(make_bar(4))  # identical duplicate
    api = runner.api
    assert isinstance(api, CountingApi)
    assert api.bars == [i * 60_000 for i in range(5)]
    assert runner.stats.bars == 5 and runner.stats.duplicate_bars == 1


def test_conflicting_and_older_bars_are_rejected_and_journaled(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, lambda k, b, m: None)
    runner.on_bar(make_bar(5))
    assert runner.on_bar(make_bar(5, 100.5)) is False  # same time, different bar
    assert runner.on_bar(make_bar(3)) is False  # older
    assert runner.stats.rejected_bars == 2 and runner.stats.bars == 1
    assert rows(runner, "SELECT timestamp, source, kind FROM rejected_bars ORDER BY id") == [
        (300_000, "window", "conflict"),
        (180_000, "window", "out_of_order"),
    ]


def test_consecutive_errors_stop_the_strategy_but_auto_exit_still_protects(
    tmp_path: Path,
) -> None:
    def script(k: int, b: Bar, m: StateMachine) -> None:
        if k < 2:
            enter_with_stop(m, b, stop=95.0)
            return
        raise StrategyError(f"scripted.lua:7: boom {k}")

    runner = make_runner(tmp_path, script, max_errors=3)
    for i in range(8):  # bars 2, 3, 4 err; strategy stops; 5..7 protect only
        runner.on_bar(make_bar(i))
    strategy = runner.strategy
    assert isinstance(strategy, ScriptedStrategy)
    assert len(strategy.seen) == 5  # no call after the third consecutive error
    assert runner.stopped is not None and "3 consecutive errors" in runner.stopped
    assert runner.machine.position is not None  # still in position: not silently closed
    runner.on_bar(make_bar(8, low=90.0))  # the stop still fires
    assert runner.machine.state is State.IDLE
    trades = rows(runner, "SELECT exit_reason, exit_timestamp FROM trades")
    assert trades == [("stop_loss", 480_000)]
    assert rows(runner, "SELECT kind, consecutive FROM strategy_errors ORDER BY id") == [
        ("call", 1), ("call", 2), ("call", 3), ("stopped", 3)
    ]
    assert runner.stats.strategy_errors == 3


def test_a_success_resets_the_consecutive_error_count(tmp_path: Path) -> None:
    def script(k: int, b: Bar, m: StateMachine) -> None:
        if k % 3 != 2:  # two errors, one success, repeated
            raise StrategyError("scripted.lua:1: flaky")

    runner = make_runner(tmp_path, script, max_errors=3)
    for i in range(30):
        runner.on_bar(make_bar(i))
    assert runner.stopped is None
    assert runner.stats.strategy_errors == 20


def test_an_erring_call_leaves_the_machine_unchanged(tmp_path: Path) -> None:
    def script(k: int, b: Bar, m: StateMachine) -> ClosedTrade | None:
        if k == 0:
            m.begin_analysis({"x": 1}, b)
            return None
        if k == 1:
            m.execute(EnterLong(quantity=1.0), b)
            return None
        if k == 2:
            raise StrategyError("scripted.lua:3: manage_position failed")
        return m.execute(Exit(), b)

    runner = make_runner(tmp_path, script)
    for i in range(4):
        runner.on_bar(make_bar(i, 100.0 + i))
    # entered at 101 (bar 1); bar 2's error skipped the action; exit at bar 3's close, 103
    assert rows(runner, "SELECT entry_price, exit_price, exit_reason FROM trades") == [
        (101.0, 103.0, "strategy")
    ]


def test_replace_strategy_keeps_the_position_and_journals_the_version(tmp_path: Path) -> None:
    def first(k: int, b: Bar, m: StateMachine) -> None:
        enter_with_stop(m, b, stop=90.0)

    runner = make_runner(tmp_path, first)
    runner.on_bar(make_bar(0))
    runner.on_bar(make_bar(1))
    assert runner.machine.state is State.IN_POSITION
    second = ScriptedStrategy(lambda k, b, m: m.execute(Exit(), b), sha256="1" * 64)
    runner.replace_strategy(second)
    runner.on_bar(make_bar(2, 100.5))
    assert second.seen == [(120_000, State.IN_POSITION)]
    assert rows(runner, "SELECT exit_price FROM trades") == [(100.5,)]
    assert rows(runner, "SELECT sha256, from_timestamp FROM strategy_versions ORDER BY rowid") == [
        ("0" * 64, 0),
        ("1" * 64, 120_000),
    ]


@pytest.mark.parametrize("max_errors", [1, 2])
def test_max_errors_is_respected_exactly(tmp_path: Path, max_errors: int) -> None:
    def script(k: int, b: Bar, m: StateMachine) -> None:
        raise StrategyError("scripted.lua:1: always")

    runner = make_runner(tmp_path, script, max_errors=max_errors)
    for i in range(5):
        runner.on_bar(make_bar(i))
    assert runner.stats.strategy_errors == max_errors
    assert runner.stats.bars == 5


def test_a_reload_resumes_a_stopped_strategy(tmp_path: Path) -> None:
    def failing(k: int, b: Bar, m: StateMachine) -> None:
        raise StrategyError("scripted.lua:1: always")

    runner = make_runner(tmp_path, failing, max_errors=2)
    for i in range(3):
        runner.on_bar(make_bar(i))
    assert "always" in (runner.stopped or "")  # stopped by the error policy
    fixed = ScriptedStrategy(lambda k, b, m: None, sha256="2" * 64)
    runner.replace_strategy(fixed)
    runner.on_bar(make_bar(3))
    assert runner.stopped is None and fixed.seen == [(180_000, State.IDLE)]


# -- waiting orders through the runner (docs/design.md §4, issue 12) ------------------


def test_a_waiting_limit_fills_in_a_later_bar_and_the_transitions_are_journaled(
    tmp_path: Path
) -> None:
    def script(i: int, b: Bar, m: StateMachine) -> ClosedTrade | None:
        if i == 0:
            m.begin_analysis({}, b)
            m.execute(EnterLong(quantity=1.0, price=95.0, expire_bars=0), b)
        return None

    runner = make_runner(tmp_path, script)
    runner.on_bar(make_bar(0, 100.0))  # places the buy limit at 95 (the close is 100)
    runner.on_bar(make_bar(1, 100.0))  # low 99.5: waits
    runner.on_bar(make_bar(2, 96.0, low=94.0))  # opens 96, the low reaches 95: filled at 95
    pos = runner.machine.position
    assert pos is not None and pos.entry_price == 95.0 and pos.entry_time == 2 * 60_000
    got = rows(runner, "SELECT timestamp, from_state, to_state, reason FROM transitions")
    assert got == [(0, "idle", "analyzing", "detect_opportunity"),
                   (2 * 60_000, "analyzing", "in_position", "enter_long")]


def test_the_expiry_flag_lasts_one_bar_even_when_the_machine_is_idle_after(
    tmp_path: Path
) -> None:
    seen: list[bool] = []

    def script(i: int, b: Bar, m: StateMachine) -> ClosedTrade | None:
        seen.append(m.order_expired)
        if i == 0:
            m.begin_analysis({}, b)
            m.execute(EnterLong(quantity=1.0, price=90.0), b)  # expires after bar 1
        if i == 1:
            m.execute(CancelAnalysis(), b)  # flat, no order: only the flag remains
        return None

    runner = make_runner(tmp_path, script)
    for i in range(3):
        runner.on_bar(make_bar(i, 100.0))
    assert seen == [False, True, False]


def test_a_stopped_strategy_s_waiting_entry_is_cancelled(tmp_path: Path) -> None:
    def script(i: int, b: Bar, m: StateMachine) -> ClosedTrade | None:
        if i == 0:
            m.begin_analysis({}, b)
            m.execute(EnterLong(quantity=1.0, price=50.0, expire_bars=0), b)
            return None
        raise StrategyError("boom")

    runner = make_runner(tmp_path, script, max_errors=2)
    for i in range(4):
        runner.on_bar(make_bar(i, 100.0, low=40.0 if i == 3 else None))
    # stopped at bar 2, whose entry order was cancelled: bar 3 reaching 50 fills nothing
    assert runner.stopped is not None and runner.machine.position is None
    assert runner.machine.state is State.IDLE and runner.machine.pending_order is None
    reasons = rows(runner, "SELECT reason FROM transitions")
    assert reasons == [("detect_opportunity",), ("cancel_analysis",)]
