"""``python -m engine check FILE``: load a strategy and run it over simulated bars.

It reports load errors (file:line), every runtime error with its line, the
calls and actions the strategy made, its trades and its cost per call. The
driving loop (``exercise``) is the runner's per-bar order in miniature:
window, auto-exit, indicators, one strategy call, mark.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.errors import StrategyError
from engine.indicators.api import IndicatorApi
from engine.market.bar import Bar
from engine.market.window import MarketDataWindow
from engine.state import Position, StateMachine
from engine.strategy.lua_strategy import FUNCTIONS, LuaStrategy
from engine.strategy.params import parse_overrides

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


def exercise(strategy: LuaStrategy, bars: Iterable[Bar], window_size: int = 1000) -> CheckReport:
    """Run ``strategy`` over ``bars`` of one symbol the way the runner does; never raises
    StrategyError (errors are counted by message in the report)."""
    report = CheckReport()
    window = MarketDataWindow(window_size)
    machine = StateMachine()
    api = IndicatorApi(SYMBOL, window)
    clock = time.perf_counter_ns
    for bar in bars:
        if not window.push(bar):
            continue
        report.bars += 1
        closed = machine.auto_exit(bar)
        if closed is not None:
            _count_trade(report, closed.pnl, closed.exit_reason.value)
        api.on_bar(bar)
        before = (machine.transition_count, machine.position)
        report.calls[FUNCTIONS[_index(machine)]] += 1
        start = clock()
        try:
            trade = strategy.step(bar, machine, api)
        except StrategyError as exc:
            trade = None
            report.errors[str(exc)] += 1
        report.call_ns.append(clock() - start)
        _count_action(report, machine, before)
        if trade is not None:
            report.trades += 1
            report.pnl += trade.pnl
        machine.mark(bar)
    report.open_position = machine.position
    return report


def _index(machine: StateMachine) -> int:
    return ("idle", "analyzing", "in_position").index(machine.state.value)


def _count_trade(report: CheckReport, pnl: float, reason: str) -> None:
    report.trades += 1
    report.pnl += pnl
    report.actions[f"auto-exit ({reason})"] += 1


def _count_action(
    report: CheckReport, machine: StateMachine, before: tuple[int, Position | None]
) -> None:
    count, pos = before
    if machine.transition_count != count:
        report.actions[machine.history[-1].reason] += 1
    elif machine.position is not pos and pos is not None and machine.position is not None:
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


def check_main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m engine check``: 0 if the strategy ran without
    errors, 1 if some calls failed; a load error raises (the CLI prints it, exit 2)."""
    logged: list[str] = []
    total = 0

    def keep(message: str) -> None:
        nonlocal total
        total += 1
        if len(logged) < MAX_LOG_SHOWN:
            logged.append(message)

    strategy = LuaStrategy(
        args.file,
        params=parse_overrides(args.param),
        instruction_budget=args.lua_budget,
        memory_mb=args.lua_memory_mb,
        log=keep,
    )
    report = exercise(strategy, simulated_bars(args.bars, args.seed))
    print(format_report(strategy, report, args.seed))
    print("\n".join(format_log(logged, total)))
    return 1 if report.errors else 0
