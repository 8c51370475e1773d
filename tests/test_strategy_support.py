"""Helpers shared by the strategy and sandbox tests (this module holds no tests)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from factories import make_bar

from engine.indicators.api import IndicatorApi
from engine.market.bar import Bar
from engine.market.window import MarketDataWindow
from engine.state import ClosedTrade, Execution, StateMachine
from engine.strategy import LuaStrategy

#: Appended to a test script so that it defines all three functions.
STUBS = """
if detect_opportunity == nil then function detect_opportunity() end end
if filter_commitment == nil then function filter_commitment() end end
if manage_position == nil then function manage_position() end end
"""


def write(tmp_path: Path, source: str, name: str = "strat.lua", stubs: bool = True) -> Path:
    """Write ``source`` (plus stubs for missing functions) to ``tmp_path/name``."""
    path = tmp_path / name
    path.write_text(source + (STUBS if stubs else ""), encoding="utf-8")
    return path


def load(tmp_path: Path, source: str, **kwargs: object) -> LuaStrategy:
    """A LuaStrategy of ``source`` (small budgets keep runaway tests fast)."""
    kwargs.setdefault("instruction_budget", 1_000_000)
    kwargs.setdefault("memory_mb", 16.0)
    return LuaStrategy(write(tmp_path, source), **kwargs)  # type: ignore[arg-type]


class Harness:
    """Window + machine + indicator API driven the way the runner does."""

    def __init__(
        self, strategy: LuaStrategy, symbol: str = "BTCUSDT",
        execution: Execution | None = None,
    ) -> None:
        self.strategy = strategy
        self.window = MarketDataWindow(1000)
        self.machine = StateMachine() if execution is None else StateMachine(execution=execution)
        self.api = IndicatorApi(symbol, self.window)
        self.i = 0
        #: the trade begin_bar closed in the last bar fed (an auto-exit), if any
        self.begun: ClosedTrade | None = None

    def feed(self, b: Bar) -> ClosedTrade | None:
        """Push ``b`` and call the strategy once (StrategyError propagates)."""
        self.window.push(b)
        self.begun = self.machine.begin_bar(b) if self.machine.busy else None
        self.api.on_bar(b)
        return self.strategy.step(b, self.machine, self.api)

    def next(self, close: float = 100.0, **kw: float | None) -> ClosedTrade | None:
        """Feed the next bar at ``close``: open = close, high and low 1 % away, volume 10,
        from 2023-11-14 (1.7e12 ms); ``kw`` overrides any of make_bar's fields."""
        self.i += 1
        fields = {"high": close * 1.01, "low": close * 0.99, "volume": 10.0, **kw}
        return self.feed(make_bar(self.i, close, start=1_700_000_000_000,
                                  **fields))  # type: ignore[arg-type]

    def closes(self, closes: Sequence[float]) -> None:
        """Feed one bar per close."""
        for c in closes:
            self.next(c)


def walk(n: int, seed: int = 7) -> Iterator[Bar]:
    """Simulated bars (the simulated feed's random walk)."""
    from engine.market.feeds.simulated import SimulatedFeed

    return SimulatedFeed(["BTCUSDT"], seed=seed, bars=n).iter_bars()
