"""The journal's trade facts: reasons, bars held, slippage, MAE/MFE, levels at exit
(engine/run/trade_facts.py), from a scripted strategy over hand-made bars."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_bar

from engine.indicators.api import IndicatorApi
from engine.market.bar import Bar
from engine.market.window import MarketDataWindow
from engine.run.journal import Journal
from engine.run.runner import SymbolRunner
from engine.state import EnterLong, Exit, StateMachine
from engine.state.costs import Costs
from engine.state.position import ClosedTrade


class Script:
    """detect on bar 0, enter long (qty 2, stop 90, reason "go") on bar 1, exit at the
    close (reason "done") on ``exit_at`` unless the stop fired first."""

    def __init__(self, exit_at: int) -> None:
        self.path, self.sha256 = "s.lua", "0" * 64
        self.params: dict[str, object] = {}
        self.exit_at = exit_at
        self.i = -1

    def step(self, bar: Bar, machine: StateMachine, api: object) -> ClosedTrade | None:
        self.i += 1
        if self.i == 0:
            machine.begin_analysis({}, bar)
        elif self.i == 1:
            machine.execute(EnterLong(quantity=2.0, stop_loss=90.0, reason="go"), bar)
        elif self.i == self.exit_at and machine.position is not None:
            return machine.execute(Exit(reason="done"), bar)
        return None


class NoApi(IndicatorApi):
    def __init__(self) -> None:
        super().__init__("BTCUSDT", MarketDataWindow(10))

    def on_bar(self, bar: Bar) -> None:
        pass


def run(tmp_path: Path, bars: list[Bar], exit_at: int) -> dict[str, object]:
    journal = Journal(tmp_path / "j.sqlite")
    journal.start_run(command=["t"], strategy_path="s.lua", strategy_sha256="0" * 64,
                      params={}, symbols=["BTCUSDT"], feed="t", seed=None, fee_bps=0.0,
                      slippage_bps=10.0)
    machine = StateMachine(costs=Costs(fee_bps=0.0, slippage_bps=10.0))
    runner = SymbolRunner("BTCUSDT", Script(exit_at), machine, MarketDataWindow(10),
                          NoApi(), journal)
    for bar in bars:
        runner.on_bar(bar)
    (trade,) = journal.trades(1)
    journal.close()
    return trade


def test_a_strategy_exit_counts_its_bar_and_both_slipped_fills(tmp_path: Path) -> None:
    bars = [make_bar(0, 100.0), make_bar(1, 100.0),
            make_bar(2, 100.0, high=105.0, low=98.0), make_bar(3, 100.0, high=103.0, low=95.0),
            make_bar(4, 101.0, high=104.0, low=99.0)]
    t = run(tmp_path, bars, exit_at=4)
    # entry fill 100 * (1 + 10 bp) = 100.1; exit fill 101 * (1 - 10 bp) = 100.899
    assert t["entry_price"] == pytest.approx(100.1)
    assert t["exit_price"] == pytest.approx(100.899)
    # held through bars 2, 3 and 4 (the exit fills at 4's close): low 95, high 105
    assert t["mae_pct"] == pytest.approx((95.0 / 100.1 - 1.0) * 100.0)  # -5.0949…
    assert t["mfe_pct"] == pytest.approx((105.0 / 100.1 - 1.0) * 100.0)  # +4.8951…
    assert t["bars_held"] == 3
    # |100.1 - 100| * 2 + |100.899 - 101| * 2 = 0.2 + 0.202
    assert t["slippage"] == pytest.approx(0.402)
    assert (t["entry_reason"], t["exit_note"]) == ("go", "done")
    assert (t["stop_loss"], t["take_profit"]) == (90.0, None)


def test_a_stop_exit_counts_only_the_fill_of_its_bar(tmp_path: Path) -> None:
    bars = [make_bar(0, 100.0), make_bar(1, 100.0),
            make_bar(2, 100.0, high=102.0, low=97.0),
            make_bar(3, 95.0, open=99.0, high=99.5, low=80.0)]  # through the stop at 90
    t = run(tmp_path, bars, exit_at=99)
    # stop fill 90 * (1 - 10 bp) = 89.91; bar 3's low 80 came after it: not the trade's
    assert t["exit_reason"] == "stop_loss"
    assert t["exit_price"] == pytest.approx(89.91)
    assert t["mae_pct"] == pytest.approx((89.91 / 100.1 - 1.0) * 100.0)
    assert t["mfe_pct"] == pytest.approx((102.0 / 100.1 - 1.0) * 100.0)  # bar 2's high
    assert t["bars_held"] == 2
    # entry 0.1 * 2 + exit |89.91 - 90| * 2
    assert t["slippage"] == pytest.approx(0.2 + 0.18)
    assert t["exit_note"] is None and t["entry_reason"] == "go"
