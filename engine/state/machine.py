"""The strategy state machine (docs/design.md §4).

Per bar the runner calls ``auto_exit(bar)`` first (the protection that does not
depend on the strategy), then exactly one strategy function chosen by
``state`` whose result goes through ``begin_analysis`` or ``execute``, then
``mark(bar)``. Every refused call raises ``StrategyError`` (an ``ActionError``
for actions) and leaves the machine exactly as it was: all checks run before
the first change.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import replace

from engine.errors import MarketDataError, StrategyError
from engine.market.bar import Bar
from engine.state.account import Account
from engine.state.actions import (
    Action,
    ActionError,
    CancelAnalysis,
    EnterLong,
    EnterShort,
    Exit,
    UpdateStopLoss,
    UpdateTakeProfit,
)
from engine.state.context import Context, check_entry
from engine.state.position import (
    ClosedTrade,
    Costs,
    ExitReason,
    Position,
    Side,
    close_position,
    is_finite_positive,
)
from engine.state.state import HISTORY_LIMIT, State, Transition

DEFAULT_COSTS = Costs()

_ALLOWED: Mapping[type, State] = {
    CancelAnalysis: State.ANALYZING,
    EnterLong: State.ANALYZING,
    EnterShort: State.ANALYZING,
    Exit: State.IN_POSITION,
    UpdateStopLoss: State.IN_POSITION,
    UpdateTakeProfit: State.IN_POSITION,
}


class StateMachine:
    """States, context, position and account of one symbol's strategy."""

    __slots__ = ("_clear_context", "_costs", "_history", "_position", "_state",
                 "_transition_count", "account", "context")

    def __init__(
        self,
        costs: Costs = DEFAULT_COSTS,
        clear_context_on_exit: bool = True,
        starting_equity: float = 10_000.0,
    ) -> None:
        self._costs = costs
        self._clear_context = clear_context_on_exit
        self._state = State.IDLE
        self._position: Position | None = None
        self._history: deque[Transition] = deque(maxlen=HISTORY_LIMIT)
        self._transition_count = 0
        self.context = Context()
        self.account = Account(starting_equity)

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    @property
    def position(self) -> Position | None:
        """The open position (None unless IN_POSITION)."""
        return self._position

    @property
    def costs(self) -> Costs:
        """The fee and slippage model."""
        return self._costs

    @property
    def history(self) -> tuple[Transition, ...]:
        """The last (at most 100) transitions, oldest first."""
        return tuple(self._history)

    @property
    def transition_count(self) -> int:
        """Transitions since the start (history keeps only the last 100)."""
        return self._transition_count

    # -- per-bar protection ------------------------------------------------

    def auto_exit(self, bar: Bar) -> ClosedTrade | None:
        """Close the position if ``bar`` reaches its stop or target (docs/design.md §4).

        A level the open already crossed fills at the open; otherwise a stop
        fills at its level, a target at its level; if both lie within the bar
        the stop wins. Stop fills are slipped, target fills are not. Bars not
        after the entry bar are ignored: an entry takes effect from the next bar.
        """
        pos = self._position
        if pos is None or bar.timestamp <= pos.entry_time:
            return None
        if pos.symbol != bar.symbol:
            raise MarketDataError(
                f"auto_exit: field 'symbol' = {bar.symbol!r} does not match the open "
                f"{pos.symbol!r} position (timestamp {bar.timestamp})"
            )
        stop, target = pos.stop_loss, pos.take_profit
        op = bar.open
        if pos.side is Side.LONG:
            if stop is not None and op <= stop:  # gapped through the stop
                return self._stop_out(pos, op, bar)
            if target is not None and op >= target:  # gapped through the target
                return self._take_profit(pos, op, bar)
            if stop is not None and bar.low <= stop:  # stop first when both are touched
                return self._stop_out(pos, stop, bar)
            if target is not None and bar.high >= target:
                return self._take_profit(pos, target, bar)
        else:
            if stop is not None and op >= stop:
                return self._stop_out(pos, op, bar)
            if target is not None and op <= target:
                return self._take_profit(pos, op, bar)
            if stop is not None and bar.high >= stop:
                return self._stop_out(pos, stop, bar)
            if target is not None and bar.low <= target:
                return self._take_profit(pos, target, bar)
        return None

    def _stop_out(self, pos: Position, level: float, bar: Bar) -> ClosedTrade:
        # The closing fill sells a long (direction -1) and buys back a short (+1).
        price = self._costs.adverse(level, -pos.direction)
        return self._close(pos, price, bar, ExitReason.STOP_LOSS, None)

    def _take_profit(self, pos: Position, level: float, bar: Bar) -> ClosedTrade:
        return self._close(pos, level, bar, ExitReason.TAKE_PROFIT, None)

    def mark(self, bar: Bar) -> float:
        """Record and return the equity after ``bar`` (position marked at its close)."""
        pos = self._position
        unrealized = 0.0 if pos is None else pos.unrealized_pnl(bar.close)
        return self.account.mark(unrealized)

    # -- strategy results --------------------------------------------------

    def begin_analysis(self, fields: Mapping[str, object], bar: Bar) -> None:
        """Apply detect_opportunity's table: its fields go into the context, state -> ANALYZING."""
        if self._state is not State.IDLE:
            raise StrategyError(
                f"detect_opportunity result: not allowed in state {self._state} "
                "(only in idle)"
            )
        for key, value in fields.items():
            check_entry(key, value, where="detect_opportunity result")
        self.context.update(fields)
        self._transition(State.ANALYZING, "detect_opportunity", bar, None)

    def execute(self, action: Action, bar: Bar) -> ClosedTrade | None:
        """Validate ``action`` against the state and ``bar``, then apply it.

        Returns the closed trade for ``exit``, else None. Raises ActionError
        (a StrategyError) naming action, field, value and state.
        """
        allowed = _ALLOWED.get(type(action))
        if allowed is None:
            raise StrategyError(f"execute: {action!r} is not an action")
        if self._state is not allowed:
            raise self._error(action, "action", action.name,
                              f"is only allowed in state {allowed}")
        if isinstance(action, CancelAnalysis):
            self._transition(State.IDLE, action.name, bar, action.reason)
            return None
        if isinstance(action, EnterLong | EnterShort):
            self._enter(action, bar)
            return None
        pos = self._position
        assert pos is not None  # IN_POSITION always has one
        if isinstance(action, Exit):
            return self._exit(action, pos, bar)
        if isinstance(action, UpdateStopLoss):
            self._check_stop(action, pos.side, action.stop_loss, bar.close, "the bar's close")
            self._position = _replace(pos, stop_loss=action.stop_loss)
        else:
            self._check_target(action, pos.side, action.take_profit, bar.close, "the bar's close")
            self._position = _replace(pos, take_profit=action.take_profit)
        return None

    def _enter(self, action: EnterLong | EnterShort, bar: Bar) -> None:
        side = Side.LONG if isinstance(action, EnterLong) else Side.SHORT
        direction = 1.0 if side is Side.LONG else -1.0
        if not is_finite_positive(action.quantity):
            raise self._error(action, "quantity", action.quantity, "must be a finite number > 0")
        if action.price is None:
            price = self._costs.adverse(bar.close, direction)
        else:
            self._check_in_bar(action, action.price, bar)
            price = action.price
        where = "the entry price"
        if action.stop_loss is not None:
            self._check_stop(action, side, action.stop_loss, price, where)
        if action.take_profit is not None:
            self._check_target(action, side, action.take_profit, price, where)
        fee = self._costs.fee(price, action.quantity)
        if not math.isfinite(price * action.quantity * 2.0):
            # P&L, fees and equity would turn into inf/NaN (headroom for the exit side).
            raise self._error(action, "quantity", action.quantity,
                              f"makes the notional at price {price:g} overflow")
        self._position = Position(bar.symbol, side, action.quantity, price, bar.timestamp, fee,
                                  action.stop_loss, action.take_profit)
        self.account.pay_fee(fee)
        self._transition(State.IN_POSITION, action.name, bar, action.reason)

    def _exit(self, action: Exit, pos: Position, bar: Bar) -> ClosedTrade:
        if action.price is None:
            price = self._costs.adverse(bar.close, -pos.direction)
        else:
            self._check_in_bar(action, action.price, bar)
            price = action.price
        return self._close(pos, price, bar, ExitReason.STRATEGY, action.reason)

    def _close(
        self, pos: Position, price: float, bar: Bar, reason: ExitReason, note: str | None
    ) -> ClosedTrade:
        exit_fee = self._costs.fee(price, pos.quantity)
        trade = close_position(pos, price, exit_fee, bar.timestamp, reason)
        self.account.close_trade(trade, exit_fee)
        self._position = None
        if self._clear_context:
            self.context.clear()
        # The transition names the action ("exit") or the auto-exit ("stop_loss", ...).
        label = Exit.name if reason is ExitReason.STRATEGY else reason.value
        self._transition(State.IDLE, label, bar, note)
        return trade

    # -- validation --------------------------------------------------------

    def _error(self, action: Action, field: str, value: object, problem: str) -> ActionError:
        return ActionError(action.name, field, value, problem, self._state.value)

    def _check_in_bar(self, action: Action, price: float, bar: Bar) -> None:
        if not bar.low <= price <= bar.high:
            raise self._error(action, "price", price,
                              f"must lie within the bar's range [{bar.low!r}, {bar.high!r}]")

    def _check_stop(self, action: Action, side: Side, stop: float, ref: float, where: str) -> None:
        if side is Side.LONG and not 0.0 < stop < ref:
            raise self._error(action, "stop_loss", stop, f"must be > 0 and below {where} {ref!r}"
                              " for a long")
        if side is Side.SHORT and not ref < stop < math.inf:
            raise self._error(action, "stop_loss", stop, f"must be finite and above {where} "
                              f"{ref!r} for a short")

    def _check_target(
        self, action: Action, side: Side, target: float, ref: float, where: str
    ) -> None:
        if side is Side.LONG and not ref < target < math.inf:
            raise self._error(action, "take_profit", target, f"must be finite and above {where} "
                              f"{ref!r} for a long")
        if side is Side.SHORT and not 0.0 < target < ref:
            raise self._error(action, "take_profit", target, f"must be > 0 and below {where} "
                              f"{ref!r} for a short")

    def _transition(self, to: State, reason: str, bar: Bar, note: str | None) -> None:
        self._history.append(Transition(self._state, to, reason, bar.timestamp, note))
        self._transition_count += 1
        self._state = to


def _replace(pos: Position, **changes: float) -> Position:
    return replace(pos, **changes)  # type: ignore[arg-type]
