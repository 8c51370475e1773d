"""The strategy state machine (docs/design.md §4).

Per bar the runner calls ``begin_bar(bar)`` first: a waiting entry order is
filled, aged or expired, then (while in a position) the stop-loss, the
take-profit and a waiting exit order are checked (``auto_exit``). Then exactly
one strategy function runs, chosen by ``state``, whose result goes through
``begin_analysis`` or ``execute``; then ``mark(bar)``. Every refused call
raises ``StrategyError`` (an ``ActionError`` for actions) and leaves the machine
exactly as it was: all checks run before the first change.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace

from mypy_extensions import mypyc_attr

from engine.errors import MarketDataError, StrategyError, chained
from engine.market.bar import CLOSE, HIGH, LOW, OPEN, SYMBOL, TIMESTAMP, Bar
from engine.state import checks
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
from engine.state.checks import Refused
from engine.state.context import Context, check_entry
from engine.state.costs import Costs
from engine.state.execution import Execution, FillMode
from engine.state.orders import Order, OrderKind, entry_fill
from engine.state.position import (
    ClosedTrade,
    ExitReason,
    Position,
    Side,
    close_position,
)
from engine.state.sizing import check_cash, entry_quantity
from engine.state.state import HISTORY_LIMIT, State, Transition

DEFAULT_COSTS = Costs()
DEFAULT_EXECUTION = Execution()

_ALLOWED: Mapping[type, State] = {
    CancelAnalysis: State.ANALYZING,
    EnterLong: State.ANALYZING,
    EnterShort: State.ANALYZING,
    Exit: State.IN_POSITION,
    UpdateStopLoss: State.IN_POSITION,
    UpdateTakeProfit: State.IN_POSITION,
}

_EXPIRED = "expired"


def _set_bars_held(pos: Position, n: int) -> None:
    """Advance ``pos.bars_held`` in place (see Position), past the frozen dataclass's
    ``__setattr__``. (Its slot's descriptor, ``Position.__dict__["bars_held"].__set__``,
    was half the cost in pure Python, but mypyc cannot compile it: engine/native.py.)"""
    object.__setattr__(pos, "bars_held", n)


# Interpreted subclasses: the mutants of verify/ (engine.run.trades.RecordingMachine is
# compiled with it).
@mypyc_attr(allow_interpreted_subclasses=True)
class StateMachine:
    """States, context, position, waiting order and account of one symbol's strategy."""

    __slots__ = ("_clear_context", "_costs", "_execution", "_history", "_order", "_order_end",
                 "_position", "_state", "_transition_count", "account", "context", "version")

    def __init__(
        self,
        costs: Costs = DEFAULT_COSTS,
        clear_context_on_exit: bool = True,
        execution: Execution = DEFAULT_EXECUTION,
    ) -> None:
        self._costs = costs
        self._execution = execution
        self._clear_context = clear_context_on_exit
        self._state = State.IDLE
        self._position: Position | None = None
        self._order: Order | None = None
        #: how the last order ended unfilled in this bar: _EXPIRED, a refusal message, or None
        self._order_end: str | None = None
        self._history: deque[Transition] = deque(maxlen=HISTORY_LIMIT)
        self._transition_count = 0
        self.context = Context()
        self.account = Account(execution.cash)
        #: bumped by every change a strategy can see, except the in-place ``bars_held``
        #: and the marks: a transition, the waiting order (placed, aged, ended), its
        #: flags, the position's levels. A strategy mirrors the machine when it moved.
        self.version = 0

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    @property
    def position(self) -> Position | None:
        """The open position (None unless IN_POSITION)."""
        return self._position

    @property
    def pending_order(self) -> Order | None:
        """The order waiting for a later bar: an entry (ANALYZING) or an exit (IN_POSITION)."""
        return self._order

    @property
    def busy(self) -> bool:
        """False when ``begin_bar`` has nothing to do: flat, no order waiting, no flag
        of the last bar to clear (the runner then skips the call)."""
        return self._position is not None or self._order is not None or (
            self._order_end is not None)

    @property
    def order_expired(self) -> bool:
        """True during the bar in which the waiting order expired unfilled."""
        return self._order_end is _EXPIRED

    @property
    def order_refused(self) -> str | None:
        """Why the waiting entry could not fill in this bar (sizing or cash), else None."""
        end = self._order_end
        return None if end is None or end is _EXPIRED else end

    @property
    def costs(self) -> Costs:
        """The fee and slippage model."""
        return self._costs

    @property
    def execution(self) -> Execution:
        """Fill mode, starting cash and leverage."""
        return self._execution

    @property
    def history(self) -> tuple[Transition, ...]:
        """The last (at most 100) transitions, oldest first."""
        return tuple(self._history)

    @property
    def transition_count(self) -> int:
        """Transitions since the start (history keeps only the last 100)."""
        return self._transition_count

    # -- the start of a bar: waiting orders, then protection ------------------

    def begin_bar(self, bar: Bar) -> ClosedTrade | None:
        """Everything that happens to ``bar`` before the strategy is called (docs/design.md §4).

        1. A waiting entry order is filled (state -> IN_POSITION), or aged, or
           expired (``order_expired``), or refused at its fill price
           (``order_refused``); an entry filled at the bar's open is then
           protected in the same bar: step 2 applies to this bar too.
        2. While in a position (entered before this bar): ``auto_exit``.
        Returns the trade closed in this bar, if any.
        """
        if self._order_end is not None:
            self._order_end = None
            self.version += 1
        order = self._order
        if order is not None and order.is_entry:
            return self._work_entry(order, bar)
        if self._position is None:
            return None
        return self.auto_exit(bar)

    def auto_exit(self, bar: Bar, fill_bar: bool = False) -> ClosedTrade | None:
        """Close the position if ``bar`` reaches its stop, its target or its waiting exit order.

        A level the open already crossed fills at the open; otherwise a stop
        fills at its level, a target at its level; if both lie within the bar
        the stop wins. Stop fills are slipped, target fills are not. A waiting
        exit order: a market one fills at the open (slipped) before any level;
        a limit one acts as a second target (the nearer of the two fills; a fill
        at or beyond the take-profit counts as the take-profit). Bars not after
        the entry bar are ignored (an entry takes effect from the next bar)
        unless ``fill_bar``: the entry filled at this bar's open. Advances the
        position's ``bars_held`` (not in the fill bar).
        """
        pos = self._position
        if pos is None:
            return None
        # (bar fields by index on the per-bar path: see engine/market/bar.py)
        if not fill_bar:
            if bar[TIMESTAMP] <= pos.entry_time:
                return None
            if pos.symbol != bar[SYMBOL]:
                raise MarketDataError(
                    f"auto_exit: field 'symbol' = {bar.symbol!r} does not match the open "
                    f"{pos.symbol!r} position (timestamp {bar.timestamp})"
                )
            _set_bars_held(pos, pos.bars_held + 1)
        stop, target = pos.stop_loss, pos.take_profit
        order = self._order
        if order is not None:
            if bar[TIMESTAMP] <= order.placed:
                order = None
            elif order.price is None:  # a market exit under the next-open fill mode
                price = self._costs.adverse(bar.open, -pos.direction)
                return self._close(pos, price, bar, ExitReason.STRATEGY, order.action.reason)
            elif target is None:
                target = order.price
            else:
                target = (min(target, order.price) if pos.side is Side.LONG
                          else max(target, order.price))
        op, high, low = bar[OPEN], bar[HIGH], bar[LOW]
        if pos.side is Side.LONG:
            if stop is not None and op <= stop:  # gapped through the stop
                return self._stop_out(pos, op, bar)
            if target is not None and op >= target:  # gapped through the target
                return self._take_profit(pos, op, bar)
            if stop is not None and low <= stop:  # stop first when both are touched
                return self._stop_out(pos, stop, bar)
            if target is not None and high >= target:
                return self._take_profit(pos, target, bar)
        else:
            if stop is not None and op >= stop:
                return self._stop_out(pos, op, bar)
            if target is not None and op <= target:
                return self._take_profit(pos, op, bar)
            if stop is not None and high >= stop:
                return self._stop_out(pos, stop, bar)
            if target is not None and low <= target:
                return self._take_profit(pos, target, bar)
        if order is not None:
            self._age(order)
        return None

    def _work_entry(self, order: Order, bar: Bar) -> ClosedTrade | None:
        if bar.timestamp <= order.placed:
            return None
        if order.symbol != bar.symbol:
            raise MarketDataError(
                f"begin_bar: field 'symbol' = {bar.symbol!r} does not match the waiting "
                f"{order.symbol!r} order (timestamp {bar.timestamp})"
            )
        fill = entry_fill(order, bar, self._costs)
        if fill is None:
            self._age(order)
            return None
        price, at_open = fill
        action = order.action
        assert isinstance(action, EnterLong | EnterShort)
        try:
            quantity = self._size(action, price)
        except ActionError as exc:
            self._order = None
            self._order_end = str(exc)
            self.version += 1
            return None
        self._order = None
        self._open(action, order.side, quantity, price, bar)
        # Filled at the open: the rest of the bar came after the entry, so it is protected.
        return self.auto_exit(bar, fill_bar=True) if at_open else None

    def _age(self, order: Order) -> None:
        """One more bar without a fill: count it down, expire at zero."""
        left = order.bars_left
        if left is None:
            return
        if left <= 1:
            self._order = None
            self._order_end = _EXPIRED
        else:
            self._order = replace(order, bars_left=left - 1)
        self.version += 1

    def _stop_out(self, pos: Position, level: float, bar: Bar) -> ClosedTrade:
        # The closing fill sells a long (direction -1) and buys back a short (+1).
        price = self._costs.adverse(level, -pos.direction)
        return self._close(pos, price, bar, ExitReason.STOP_LOSS, None)

    def _take_profit(self, pos: Position, price: float, bar: Bar) -> ClosedTrade:
        target = pos.take_profit
        if target is not None and (price >= target if pos.side is Side.LONG else price <= target):
            return self._close(pos, price, bar, ExitReason.TAKE_PROFIT, None)
        order = self._order  # the waiting exit limit was the nearer level
        note = None if order is None else order.action.reason
        return self._close(pos, price, bar, ExitReason.STRATEGY, note)

    def mark(self, bar: Bar) -> float:
        """Record and return the equity after ``bar`` (position marked at its close)."""
        pos = self._position
        unrealized = 0.0 if pos is None else pos.unrealized_pnl(bar[CLOSE])
        return self.account.mark(unrealized)

    # -- strategy results --------------------------------------------------

    def begin_analysis(self, fields: Mapping[str, object], bar: Bar) -> None:
        """Apply detect_opportunity's table: its fields go into the context, state -> ANALYZING."""
        if self._state is not State.IDLE:
            raise StrategyError(
                f"detect_opportunity result: not allowed in state {self._state} "
                "(only in idle)"
            )
        # any key reaches the check (compiled, a (str, object) item would raise first)
        items: Iterable[tuple[object, object]] = fields.items()
        for key, value in items:
            check_entry(key, value, where="detect_opportunity result")
        self.context.update(fields)
        self._transition(State.ANALYZING, "detect_opportunity", bar, None)

    def execute(self, action: Action, bar: Bar) -> ClosedTrade | None:
        """Validate ``action`` against the state and ``bar``, then apply it.

        Returns the closed trade for a market ``exit`` at the close, else None.
        An entry or exit that does not fill now becomes the waiting order
        (replacing the one waiting, if any); ``cancel_analysis`` cancels it.
        Raises ActionError (a StrategyError) naming action, field, value and state.
        """
        allowed = _ALLOWED.get(type(action))
        if allowed is None:
            raise StrategyError(f"execute: {action!r} is not an action")
        if self._state is not allowed:
            raise self._error(action, "action", action.name,
                              f"is only allowed in state {allowed}")
        if isinstance(action, CancelAnalysis):
            self._order = None
            self._transition(State.IDLE, action.name, bar, action.reason)
            return None
        if isinstance(action, EnterLong | EnterShort):
            self._enter(action, bar)
            return None
        pos = self._position
        assert pos is not None  # IN_POSITION always has one
        if isinstance(action, Exit):
            return self._exit(action, pos, bar)
        stop = action.stop_loss if isinstance(action, UpdateStopLoss) else None
        target = action.take_profit if isinstance(action, UpdateTakeProfit) else None
        try:
            checks.levels(pos.side, stop, target, bar.close, "the bar's close")
        except Refused as exc:
            raise self._refused(action, exc) from None
        if stop is not None:
            self._position = _replace(pos, stop_loss=stop)
        elif target is not None:
            self._position = _replace(pos, take_profit=target)
        self.version += 1
        return None

    def _enter(self, action: EnterLong | EnterShort, bar: Bar) -> None:
        side = Side.LONG if isinstance(action, EnterLong) else Side.SHORT
        try:
            kind, level, expire = checks.entry_order(action, side, bar.close)
            if kind is OrderKind.MARKET:
                ref = self._costs.adverse(bar.close, 1.0 if side is Side.LONG else -1.0)
            elif kind is OrderKind.STOP:
                ref = self._costs.adverse(level, 1.0 if side is Side.LONG else -1.0)
            else:
                ref = level
            checks.levels(side, action.stop_loss, action.take_profit, ref, "the entry price")
        except Refused as exc:
            raise self._refused(action, exc) from None
        quantity = self._size(action, ref)
        if kind is OrderKind.MARKET and self._execution.fill is FillMode.CLOSE:
            self._order = None
            self._open(action, side, quantity, ref, bar)
            return
        price = None if kind is OrderKind.MARKET else level
        self._order = Order(kind, side, price, expire, bar.timestamp, bar.symbol, action)
        self.version += 1

    def _size(self, action: EnterLong | EnterShort, fill: float) -> float:
        """The entry's quantity at ``fill``, cash-checked; ActionError if refused."""
        account = self.account
        equity = account.starting_equity + account.realized_pnl  # flat: cash = equity
        try:
            quantity = entry_quantity(action, fill, equity, self._costs)
            check_cash(action, quantity, fill, equity, self._execution.leverage, self._costs)
        except Refused as exc:
            raise self._refused(action, exc) from None
        return quantity

    def _open(self, action: EnterLong | EnterShort, side: Side, quantity: float, price: float,
              bar: Bar) -> Position:
        fee = self._costs.fee(price, quantity)
        pos = Position(bar.symbol, side, quantity, price, bar.timestamp, fee,
                       action.stop_loss, action.take_profit)
        self._position = pos
        self.account.pay_fee(fee)
        self._transition(State.IN_POSITION, action.name, bar, action.reason)
        return pos

    def _exit(self, action: Exit, pos: Position, bar: Bar) -> ClosedTrade | None:
        try:
            expire = checks.expiry(action, action.price is not None)
            if action.price is not None:
                checks.exit_price(action.price, pos.side, bar.close)
        except Refused as exc:
            raise self._refused(action, exc) from None
        if action.price is not None:
            self._order = Order(OrderKind.LIMIT, pos.side, action.price, expire, bar.timestamp,
                                bar.symbol, action)
            self.version += 1
            return None
        if self._execution.fill is FillMode.NEXT_OPEN:
            self._order = Order(OrderKind.MARKET, pos.side, None, 1, bar.timestamp, bar.symbol,
                                action)
            self.version += 1
            return None
        price = self._costs.adverse(bar.close, -pos.direction)
        return self._close(pos, price, bar, ExitReason.STRATEGY, action.reason)

    def _close(
        self, pos: Position, price: float, bar: Bar, reason: ExitReason, note: str | None
    ) -> ClosedTrade:
        exit_fee = self._costs.fee(price, pos.quantity)
        trade = close_position(pos, price, exit_fee, bar.timestamp, reason)
        self.account.close_trade(trade, exit_fee)
        self._position = None
        self._order = None  # a waiting exit order ends with the position
        if self._clear_context:
            self.context.clear()
        # The transition names the action ("exit") or the auto-exit ("stop_loss", ...).
        label = Exit.name if reason is ExitReason.STRATEGY else reason.value
        self._transition(State.IDLE, label, bar, note)
        return trade

    # -- validation --------------------------------------------------------

    def _error(self, action: Action, field: str, value: object, problem: str) -> ActionError:
        return ActionError(action.name, field, value, problem, self._state.value)

    def _refused(self, action: Action, exc: Refused) -> ActionError:
        """A check's refusal as the action's error, its context suppressed (raised
        ``from None``: errors.chained, for the compiled core)."""
        return chained(self._error(action, exc.field, exc.value, exc.problem), None)

    def _transition(self, to: State, reason: str, bar: Bar, note: str | None) -> None:
        self._history.append(Transition(self._state, to, reason, bar.timestamp, note))
        self._transition_count += 1
        self._state = to
        self.version += 1


def _replace(pos: Position, **changes: float) -> Position:
    return replace(pos, **changes)  # type: ignore[arg-type]
