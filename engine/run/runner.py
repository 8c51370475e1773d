"""The per-symbol runner: one window, state machine, strategy and indicator API.

Per bar (docs/design.md §4, §5): push the bar into the window (an identical
duplicate is dropped and counted, a conflicting or older bar is rejected,
counted and journaled), ``machine.begin_bar`` (a waiting order fills, ages or
expires; then auto-exit; a position held on through the bar records its low and
high: MAE/MFE), update the indicator streams, call exactly one strategy function
(chosen by the state after begin_bar), mark the equity, keep the bar for the
equity journal (engine/run/equity.py), then journal the transitions and trades of
the bar (with the facts of engine/run/trade_facts.py).

Error policy: a ``StrategyError`` skips that call's action; it is logged,
counted and journaled. After ``max_errors`` consecutive errors the symbol's
strategy is stopped: no Lua function is called any more, but the runner keeps
consuming the symbol's bars in *protect-only* mode — auto-exit still fires the
open position's stop-loss / take-profit and equity is still marked (an entry
order left waiting is cancelled when the strategy stops; an exit order stays). A position
that never reaches a level stays open at the end (reported with its unrealized
P&L, never silently closed). A hot reload (``replace_strategy``) resumes it.
Error texts are cut to ERROR_TEXT_CHARS; the first ERRORS_LOGGED errors of a
symbol go to stderr and the first ERRORS_JOURNALED to the journal, the rest are
counted (engine.bounds), so a strategy failing on every other bar cannot flood
either.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from engine.bounds import ERROR_TEXT_CHARS, ERRORS_JOURNALED, ERRORS_LOGGED, shorten
from engine.errors import MarketDataError, StrategyError
from engine.market.bar import HIGH, LOW, Bar
from engine.market.window import MarketDataWindow
from engine.report.stats import TradeRecord
from engine.run.equity import EquityLog
from engine.run.trade_facts import TradeFacts
from engine.state import CancelAnalysis, ClosedTrade, Position, StateMachine
from engine.strategy.lua_strategy import LuaStrategy

if TYPE_CHECKING:
    from engine.indicators.api import IndicatorApi
    from engine.run.trades import RecordingMachine, TradeObserver

log = logging.getLogger("tandem.run")

#: Consecutive strategy errors before a symbol's strategy is stopped, unless told.
DEFAULT_MAX_ERRORS = 10


class Strategy(Protocol):
    """What the runner needs of a strategy (``engine.strategy.LuaStrategy``)."""

    @property
    def path(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    @property
    def params(self) -> Mapping[str, object]: ...

    def step(self, bar: Bar, machine: StateMachine, api: IndicatorApi) -> ClosedTrade | None: ...


class RunJournal(Protocol):
    """What the runner writes (``engine.run.journal.Journal``; ``check`` keeps counts)."""

    def record_strategy_version(
        self,
        symbol: str,
        path: str,
        sha256: str,
        params: Mapping[str, object],
        from_timestamp: int | None,
    ) -> None: ...

    def record_trade(self, symbol: str, trade: TradeRecord) -> None: ...

    def record_transition(
        self,
        symbol: str,
        timestamp: int,
        from_state: str,
        to_state: str,
        reason: str,
        note: str | None = None,
    ) -> None: ...

    def record_strategy_error(
        self, symbol: str, timestamp: int | None, kind: str, message: str, consecutive: int
    ) -> None: ...

    def record_rejected_bar(
        self,
        symbol: str | None,
        timestamp: int | None,
        *,
        source: str,
        kind: str,
        location: str | None,
        reason: str,
    ) -> None: ...


class RunLog(Protocol):
    """Where the runner reports errors and rejections (a ``logging.Logger``)."""

    def warning(self, msg: str, *args: object) -> None: ...

    def error(self, msg: str, *args: object) -> None: ...


@dataclass(slots=True)
class SymbolStats:
    """Counters of one symbol's run (the trade figures are net of fees)."""

    bars: int = 0
    duplicate_bars: int = 0
    rejected_bars: int = 0
    strategy_errors: int = 0
    trades: int = 0
    wins: int = 0
    gross_profit: float = 0.0
    gross_loss: float = 0.0
    pnl: float = 0.0
    fees: float = 0.0
    reloads: int = 0
    reload_errors: int = 0
    #: strategy errors counted but not journaled (past ERRORS_JOURNALED)
    strategy_errors_unjournaled: int = 0
    #: log lines held back by strategy versions replaced by a reload
    log_lines_suppressed: int = 0


class SymbolRunner:
    """Runs one symbol's bars through its strategy; see the module docstring."""

    def __init__(
        self,
        symbol: str,
        strategy: Strategy,
        machine: StateMachine,
        window: MarketDataWindow,
        api: IndicatorApi,
        journal: RunJournal,
        max_errors: int = DEFAULT_MAX_ERRORS,
        *,
        run_log: RunLog = log,
        equity: EquityLog | None = None,
        trades: TradeObserver | None = None,
    ) -> None:
        """``trades`` (shadow mode) sees each bar's trading; ``machine`` must then be
        an ``engine.run.trades.RecordingMachine``."""
        self.symbol = symbol
        self.strategy = strategy
        self._lua = _as_lua(strategy)
        self.machine = machine
        self.window = window
        self.api = api
        self.journal = journal
        self.max_errors = max_errors
        self.log = run_log
        self.stats = SymbolStats()
        self.consecutive_errors = 0
        #: why the strategy was stopped (None while it runs)
        self.stopped: str | None = None
        self._transitions_seen = machine.transition_count
        self._new_version = True
        #: the equity series (None: not recorded, e.g. ``check``)
        self.equity = equity
        self._keep_bar = None if equity is None else equity.kept.append
        # the open position's lowest low / highest high (MAE/MFE), and the facts of
        # its entry, kept until its trade is journaled (engine/run/trade_facts.py)
        self._low, self._high = math.inf, -math.inf
        self._facts = TradeFacts()
        self._trades = trades
        if trades is not None:
            trades.book_opened(symbol, machine.costs, machine.execution)

    # -- the per-bar flow -------------------------------------------------------

    def on_bar(self, bar: Bar) -> bool:
        """Process one bar; False when it was a duplicate or rejected by the window."""
        try:
            if not self.window.push(bar):
                self.stats.duplicate_bars += 1
                return False
        except MarketDataError as exc:
            self._reject(bar, exc)
            return False
        self.stats.bars += 1
        machine = self.machine
        if self._new_version:
            self._journal_version(bar.timestamp)
        # begin_bar (docs/design.md §4): waiting orders, then auto-exit; skipped when it
        # has nothing to do (flat, no order waiting, no flag to clear)
        held = machine.position
        exit_trade = machine.begin_bar(bar) if machine.busy else None
        if held is not None and exit_trade is None:  # held through the bar: an excursion
            low, high = bar[LOW], bar[HIGH]  # by index: see engine/market/bar.py
            if low < self._low:
                self._low = low
            if high > self._high:
                self._high = high
        self.api.on_bar(bar)
        step_trade = None
        if self.stopped is None:
            try:
                lua = self._lua
                if lua is not None:
                    step_trade = lua.step(bar, machine, self.api)
                else:
                    step_trade = self.strategy.step(bar, machine, self.api)
            except StrategyError as exc:
                self._strategy_error(bar, exc)
            else:
                self.consecutive_errors = 0
        equity = machine.mark(bar)
        keep = self._keep_bar
        if keep is not None:
            keep(bar)  # for the equity journal (engine/run/equity.py)
        if self._trades is not None:
            recording: RecordingMachine = machine  # type: ignore[assignment]
            self._trades.bar_traded(self.symbol, bar,
                                    recording.trading(exit_trade, step_trade, equity))
        if machine.transition_count != self._transitions_seen:
            # transitions first: the trade's commit then includes them
            self._journal_transitions(bar)
            if exit_trade is not None:
                self._trade(exit_trade, held, bar)
            if step_trade is not None:
                self._trade(step_trade, held, bar)
        return True

    def warm_up(self, bars: Iterable[Bar]) -> None:
        """A live feed's history before its first live bar: into the window and the
        indicator streams only (no strategy call, no orders, not counted as bars), so
        indicators are warm when the first live bar arrives."""
        taken = 0
        for bar in bars:
            try:
                if self.window.push(bar):
                    self.api.on_bar(bar)
                    taken += 1
            except MarketDataError as exc:
                self._reject(bar, exc)
        log.info("%s: warmed up with %d closed bars of history", self.symbol, taken)

    def replace_strategy(self, strategy: Strategy) -> None:
        """Hot reload: the next bar runs ``strategy``; state, context, position and
        indicator streams are kept (Lua globals of the old version are not). A
        strategy stopped by the error policy resumes with the new version."""
        self.stats.log_lines_suppressed += _log_suppressed(self.strategy)
        self.strategy = strategy
        self._lua = _as_lua(strategy)
        self.stats.reloads += 1
        self._new_version = True
        self.consecutive_errors = 0
        if self.stopped is not None:
            self.log.warning("%s: strategy resumed with the reloaded version", self.symbol)
            self.stopped = None

    def log_lines_suppressed(self) -> int:
        """Log lines the strategy's versions counted instead of writing."""
        return self.stats.log_lines_suppressed + _log_suppressed(self.strategy)

    # -- bookkeeping ------------------------------------------------------------

    def _reject(self, bar: Bar, exc: MarketDataError) -> None:
        self.stats.rejected_bars += 1
        kind = "conflict" if bar.timestamp == self._last_timestamp() else "out_of_order"
        self.log.warning("%s: bar rejected: %s", self.symbol, exc)
        self.journal.record_rejected_bar(
            self.symbol, bar.timestamp, source="window", kind=kind, location=None, reason=str(exc)
        )

    def _last_timestamp(self) -> int | None:
        latest = self.window.latest() if len(self.window) else None
        return None if latest is None else latest.timestamp

    def _strategy_error(self, bar: Bar, exc: StrategyError) -> None:
        stats = self.stats
        stats.strategy_errors += 1
        self.consecutive_errors += 1
        n = self.consecutive_errors
        text = shorten(str(exc), ERROR_TEXT_CHARS)
        if stats.strategy_errors <= ERRORS_LOGGED:
            self.log.error("%s @ %d: strategy error (%d in a row): %s", self.symbol,
                           bar.timestamp, n, text)
        elif stats.strategy_errors == ERRORS_LOGGED + 1:
            self.log.error("%s: more than %d strategy errors; further ones are counted (and "
                           "the first %d journaled), not logged", self.symbol, ERRORS_LOGGED,
                           ERRORS_JOURNALED)
        if stats.strategy_errors <= ERRORS_JOURNALED:
            self.journal.record_strategy_error(self.symbol, bar.timestamp, "call", text, n)
        else:
            stats.strategy_errors_unjournaled += 1
        if n >= self.max_errors:
            self.stopped = (
                f"strategy stopped after {n} consecutive errors (--max-errors {self.max_errors});"
                f" last: {text}"
            )
            self.log.error(
                "%s: %s. Auto-exit keeps protecting the open position; no new entries.",
                self.symbol,
                self.stopped,
            )
            self.journal.record_strategy_error(
                self.symbol, bar.timestamp, "stopped", self.stopped, n
            )
            self._cancel_entry_order(bar)

    def _cancel_entry_order(self, bar: Bar) -> None:
        """A stopped strategy opens nothing: an entry order it left waiting is cancelled
        (journaled with the bar's other transitions); a waiting exit order stays."""
        machine = self.machine
        order = machine.pending_order
        if order is not None and order.is_entry:
            machine.execute(CancelAnalysis(reason="strategy stopped"), bar)

    def _trade(self, trade: ClosedTrade, held: Position | None, bar: Bar) -> None:
        """Count and journal a trade closed in ``bar``; ``held`` is the position as
        the bar began (its stop and target are the levels at the exit)."""
        s = self.stats
        s.trades += 1
        s.pnl += trade.pnl
        s.fees += trade.fees
        if trade.pnl > 0:
            s.wins += 1
            s.gross_profit += trade.pnl
        else:
            s.gross_loss -= trade.pnl
        facts = self._facts.close(trade, held, bar, self.machine.costs, s.bars,
                                  self._low, self._high)
        self._low, self._high = math.inf, -math.inf
        # str() of a StrEnum member is its value, without Enum.value's Python-level
        # descriptor (this and the transitions run on every state change)
        self.journal.record_trade(self.symbol, TradeRecord(
            side=str(trade.side),
            quantity=trade.quantity,
            entry_timestamp=trade.entry_time,
            entry_price=trade.entry_price,
            exit_timestamp=trade.exit_time,
            exit_price=trade.exit_price,
            exit_reason=str(trade.exit_reason),
            fees=trade.fees,
            pnl=trade.pnl,
            **facts,
        ))

    def _journal_transitions(self, bar: Bar) -> None:
        """Journal the transitions made since the last call (at most three per bar:
        an order's fill, the auto-exit of its fill bar, then the strategy's result;
        history keeps the last 100)."""
        count = self.machine.transition_count
        new = count - self._transitions_seen
        self._transitions_seen = count
        for t in self.machine.history[-new:]:
            self._facts.transition(t, self.machine, bar, self.stats.bars)
            self.journal.record_transition(
                self.symbol, t.timestamp, str(t.from_state), str(t.to_state), t.reason, t.note
            )

    def _journal_version(self, timestamp: int) -> None:
        s = self.strategy
        self.journal.record_strategy_version(self.symbol, s.path, s.sha256, s.params, timestamp)
        self._new_version = False


def _log_suppressed(strategy: Strategy) -> int:
    """A strategy's count of held-back log lines (0 for one that does not log)."""
    return int(getattr(strategy, "log_suppressed", 0))


def _as_lua(strategy: Strategy) -> LuaStrategy | None:
    """``strategy`` when it is a LuaStrategy. Compiled, the runner then calls its step
    directly (a C call); through the Strategy protocol the call looks ``step`` up by
    name and parses its arguments. With the step's Final names: on_bar 28.2k -> 27.8k
    CPU instructions a bar (sma_crossover), 51.9k -> 51.1k (five indicators)."""
    return strategy if isinstance(strategy, LuaStrategy) else None
