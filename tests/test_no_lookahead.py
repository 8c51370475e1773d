"""No look-ahead, verified (issue 12): for random bar series and every example strategy
in strategies/, under both fill modes,

* what happened up to bar k — the journaled transitions and trades, and the state,
  position, waiting order, context and equity after bar k — is the same whether the
  run is given k bars or all of them: nothing at bar k depends on a later bar;
* every fill lies inside the bar in which it is booked (no slippage here, so a fill
  outside [low, high] could only come from a price the bar never traded).

The bars are geometric random walks with opening gaps (so gap fills are exercised),
drawn from a seed, a volatility and a gap size; the runs go through the real
SymbolRunner, as ``run`` and ``check`` do.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.indicators.api import IndicatorApi
from engine.market.bar import Bar
from engine.market.window import MarketDataWindow
from engine.report.stats import TradeRecord
from engine.run.journal import TRADE_COLUMNS
from engine.run.runner import SymbolRunner
from engine.state import Execution, FillMode, StateMachine
from engine.state.execution import DEFAULT_LEVERAGE
from engine.strategy import LuaStrategy

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "strategies").glob("*.lua"))
BARS = 400
MINUTE = 60_000


class Recorder:
    """A RunJournal keeping the transitions and trades, in order."""

    def __init__(self) -> None:
        self.transitions: list[tuple[Any, ...]] = []
        self.trades: list[dict[str, Any]] = []

    def record_transition(self, symbol: str, timestamp: int, from_state: str, to_state: str,
                          reason: str, note: str | None = None) -> None:
        self.transitions.append((timestamp, from_state, to_state, reason, note))

    def record_trade(self, symbol: str, trade: TradeRecord) -> None:
        self.trades.append({name: getattr(trade, name) for name in TRADE_COLUMNS[1:]})

    def record_strategy_version(self, *args: object) -> None:
        pass

    def record_strategy_error(self, *args: object) -> None:
        pass

    def record_rejected_bar(self, *args: object, **kwargs: object) -> None:
        pass


def make_bars(seed: int, sigma: float, gap: float) -> list[Bar]:
    """A random walk: each bar opens at the previous close moved by a random gap of up to
    ``gap`` (relative), closes sigma-normal away, with wicks beyond both."""
    rng = np.random.default_rng(seed)
    bars, close = [], 100.0
    for i in range(BARS):
        op = close * float(np.exp(gap * rng.uniform(-1.0, 1.0)))
        close = op * float(np.exp(sigma * rng.standard_normal()))
        hi = max(op, close) * float(np.exp(sigma * abs(rng.standard_normal())))
        lo = min(op, close) * float(np.exp(-sigma * abs(rng.standard_normal())))
        bars.append(Bar("BTCUSDT", i * MINUTE, op, hi, lo, close, 1.0, None, None))
    return bars


def snapshot(machine: StateMachine) -> tuple[Any, ...]:
    """The machine after a bar, copied (the position's bars_held moves in place)."""
    pos = machine.position
    return (machine.state, None if pos is None else dataclasses.astuple(pos),
            machine.pending_order, machine.order_expired, machine.order_refused,
            dict(machine.context.as_dict()), machine.account.equity)


def play(path: Path, bars: list[Bar], fill: FillMode, k: int,
         ) -> tuple[Recorder, tuple[Any, ...]]:
    """Run ``bars`` through a fresh runner; the journal and the machine after bar k."""
    window = MarketDataWindow()
    machine = StateMachine(execution=Execution(fill=fill, leverage=DEFAULT_LEVERAGE))
    journal = Recorder()
    runner = SymbolRunner("BTCUSDT", LuaStrategy(path), machine, window,
                          IndicatorApi("BTCUSDT", window), journal)
    seen: tuple[Any, ...] = ()
    for i, bar in enumerate(bars):
        runner.on_bar(bar)
        if i == k - 1:
            seen = snapshot(machine)
    return journal, seen


def inside(bars: list[Bar], timestamp: int, price: float) -> bool:
    bar = bars[timestamp // MINUTE]
    return bar.low <= price <= bar.high


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), sigma=st.floats(0.001, 0.02),
       gap=st.sampled_from([0.0, 0.002, 0.01]), k=st.integers(1, BARS),
       fill=st.sampled_from(list(FillMode)))
def test_the_past_does_not_depend_on_the_future(
    path: Path, seed: int, sigma: float, gap: float, k: int, fill: FillMode
) -> None:
    bars = make_bars(seed, sigma, gap)
    full, at_k = play(path, bars, fill, k)
    cut, end = play(path, bars[:k], fill, k)
    last = bars[k - 1].timestamp
    assert cut.transitions == [t for t in full.transitions if t[0] <= last]
    assert cut.trades == [t for t in full.trades if t["exit_timestamp"] <= last]
    assert end == at_k
    for t in full.trades:
        assert inside(bars, t["entry_timestamp"], t["entry_price"]), t
        assert inside(bars, t["exit_timestamp"], t["exit_price"]), t


def test_the_series_make_the_examples_trade_both_ways() -> None:
    """The property above is only worth something if the examples act on such series."""
    bars = make_bars(7, 0.006, 0.002)
    for path in EXAMPLES:
        for fill in FillMode:
            journal, _ = play(path, bars, fill, BARS)
            assert journal.trades, (path.name, fill)
