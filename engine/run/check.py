"""``python -m engine check FILE``: load a strategy and run it over simulated bars.

It reports load errors (file:line), every runtime error with its line, the
calls and actions the strategy made, its trades and its cost per call. The bars
go through the run's own ``SymbolRunner`` (the per-bar order exists once, in
engine/run/runner.py), with a journal that only counts what the runner records
and a strategy wrapper that counts and times each call. That is why this command
lives in the run layer and not beside ``LuaStrategy`` in engine/strategy.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from engine.indicators.api import IndicatorApi
from engine.market.bar import Bar
from engine.market.window import DEFAULT_CAPACITY, MarketDataWindow
from engine.report.stats import TradeRecord
from engine.run.config import CheckConfig
from engine.run.runner import Strategy, SymbolRunner
from engine.state import ClosedTrade, Execution, Position, StateMachine
from engine.state.execution import DEFAULT_LEVERAGE
from engine.strategy.lua_strategy import FUNCTIONS, LuaStrategy

SYMBOL = "BTCUSDT"
MAX_ERRORS_SHOWN = 10
MAX_LOG_SHOWN = 20


@dataclass
class CheckReport:
    """What a strategy did over a run of bars."""

    bars: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    trades: int = 0
    pnl: float = 0.0
    open_position: Position | None = None
    call_ns: list[int] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        """Calls that raised a StrategyError."""
        return sum(self.errors.values())

    def percentile_us(self, q: float) -> float:
        """The q-th percentile (0..100) of the cost of one strategy call, µs."""
        if not self.call_ns:
            return 0.0
        ordered = sorted(self.call_ns)
        index = min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))
        return ordered[index] / 1000


#: What ``check`` trades with: a run's defaults (fill at the close, 10,000 cash, leverage 1).
RUN_EXECUTION = Execution(leverage=DEFAULT_LEVERAGE)


def exercise(
    strategy: Strategy,
    bars: Iterable[Bar],
    window_size: int = DEFAULT_CAPACITY,
    execution: Execution = RUN_EXECUTION,
) -> CheckReport:
    """Run ``strategy`` over ``bars`` of one symbol through the run's ``SymbolRunner``
    (default costs, a run's execution unless told, never stopped by the error policy);
    never raises StrategyError (errors are counted by message in the report)."""
    report = CheckReport()
    window = MarketDataWindow(window_size)
    machine = StateMachine(execution=execution)
    runner = SymbolRunner(
        SYMBOL,
        _Counted(strategy, report),
        machine,
        window,
        IndicatorApi(SYMBOL, window),
        _CountingJournal(report),
        max_errors=sys.maxsize,
        run_log=_QUIET,  # the report lists the errors; no log line per failed call
    )
    for bar in bars:
        runner.on_bar(bar)
    report.bars = runner.stats.bars
    report.trades = runner.stats.trades
    report.pnl = runner.stats.pnl
    report.open_position = machine.position
    return report


class _Counted:
    """The strategy, with its calls counted and timed and its actions tallied."""

    def __init__(self, strategy: Strategy, report: CheckReport) -> None:
        self._strategy = strategy
        self._report = report
        self.path, self.sha256 = strategy.path, strategy.sha256

    @property
    def params(self) -> Mapping[str, object]:
        return self._strategy.params

    def step(self, bar: Bar, machine: StateMachine, api: IndicatorApi) -> ClosedTrade | None:
        report = self._report
        report.calls[FUNCTIONS[_index(machine)]] += 1
        if machine.order_expired:
            report.actions["order expired"] += 1
        elif machine.order_refused is not None:
            report.actions["order refused"] += 1
        before = machine.position
        clock = time.perf_counter_ns
        start = clock()
        try:
            return self._strategy.step(bar, machine, api)
        finally:
            report.call_ns.append(clock() - start)
            _count_action(report, machine, before)


class _CountingJournal:
    """A RunJournal that keeps nothing but the report's counts: failed calls by
    message, the transitions by reason (a waiting order's fill included), and the
    automatic exits (stop-loss, take-profit) among the trades."""

    def __init__(self, report: CheckReport) -> None:
        self._report = report

    def record_strategy_version(self, *args: object) -> None:
        pass

    def record_transition(
        self, symbol: str, timestamp: int, from_state: str, to_state: str, reason: str,
        note: str | None = None,
    ) -> None:
        if reason not in _AUTO_EXITS:  # counted with their trades
            self._report.actions[reason] += 1

    def record_rejected_bar(self, *args: object, **kwargs: object) -> None:
        pass

    def record_trade(self, symbol: str, trade: TradeRecord) -> None:
        if trade.exit_reason != "strategy":
            self._report.actions[f"auto-exit ({trade.exit_reason})"] += 1

    def record_strategy_error(
        self, symbol: str, timestamp: int | None, kind: str, message: str, consecutive: int
    ) -> None:
        if kind == "call":
            self._report.errors[message] += 1


class _Quiet:
    """A RunLog that drops everything."""

    def warning(self, msg: str, *args: object) -> None:
        pass

    def error(self, msg: str, *args: object) -> None:
        pass


_QUIET = _Quiet()


def _index(machine: StateMachine) -> int:
    return ("idle", "analyzing", "in_position").index(machine.state.value)


_AUTO_EXITS = frozenset({"stop_loss", "take_profit"})


def _count_action(report: CheckReport, machine: StateMachine, pos: Position | None) -> None:
    """Count a position's level update (transitions are counted as journaled)."""
    if machine.position is not pos and pos is not None and machine.position is not None:
        moved = machine.position.stop_loss != pos.stop_loss
        report.actions["update_stop_loss" if moved else "update_take_profit"] += 1


def simulated_bars(bars: int, seed: int) -> Iterable[Bar]:
    """The simulated feed's bars for the check command."""
    from engine.market.feeds.simulated import SimulatedFeed

    return SimulatedFeed([SYMBOL], seed=seed, bars=bars).iter_bars()


def format_log(lines: list[str], total: int) -> list[str]:
    """The strategy's first ``log(...)`` lines, as shown by ``check``."""
    if total == 0:
        return ["log       none"]
    shown = [f"log       {total} line(s)" + (", the first shown:" if total > len(lines) else ":")]
    return shown + [f"  {line}" for line in lines]


def format_report(strategy: LuaStrategy, report: CheckReport, seed: int) -> str:
    """The human-readable summary printed by ``check``."""
    params = " ".join(f"{k}={v}" for k, v in sorted(strategy.params.items())) or "none"
    calls = ", ".join(f"{name} {report.calls[name]}" for name in FUNCTIONS)
    actions = ", ".join(f"{k} {v}" for k, v in sorted(report.actions.items())) or "none"
    pos = report.open_position
    open_text = "none"
    if pos is not None:
        open_text = f"{pos.side.value} {pos.quantity:g} @ {pos.entry_price:g}"
    lines = [
        f"strategy  {strategy.path} (sha256 {strategy.sha256[:12]})",
        f"params    {params}",
        f"bars      {report.bars} simulated {SYMBOL} bars (seed {seed})",
        f"calls     {calls}",
        f"actions   {actions}",
        f"trades    {report.trades} closed, P&L {report.pnl:.2f} net of fees; "
        f"open position: {open_text}",
        f"cost      p50 {report.percentile_us(50):.1f} µs, p99 {report.percentile_us(99):.1f} µs"
        " per strategy call (instruction budget hook on)",
    ]
    if not report.errors:
        lines.append("errors    none")
    else:
        lines.append(f"errors    {report.error_count} failed call(s):")
        for message, n in report.errors.most_common(MAX_ERRORS_SHOWN):
            lines.append(f"  {n} x {message}")
    return "\n".join(lines)


def check_main(config: CheckConfig) -> int:
    """Entry point of ``python -m engine check``: 0 if the strategy ran without
    errors, 1 if some calls failed; a load error raises (the CLI prints it, exit 2)."""
    logged: list[str] = []
    total = 0

    def keep(message: str) -> None:
        nonlocal total
        total += 1
        if len(logged) < MAX_LOG_SHOWN:
            logged.append(message)

    strategy = config.load_strategy(config.strategy, keep)
    report = exercise(strategy, simulated_bars(config.bars, config.seed))
    print(format_report(strategy, report, config.seed))
    print("\n".join(format_log(logged, total)))
    return 1 if report.errors else 0
