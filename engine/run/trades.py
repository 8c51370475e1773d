"""What a run reports about its trading to an observer (shadow mode, docs/design.md §7).

The indicator half of the observer interface lives in ``engine/observer.py``,
below the state machine; this half names the machine's types, so it lives
here, in the run layer. A runner given a ``TradeObserver`` reports the
machine's costs and execution settings once, then after every bar the
strategy's result (the action, or detect_opportunity, or nothing), its
refusal and what the machine holds at the bar's end (``BarTrading``).
``RecordingMachine`` is the machine such a runner uses: it remembers the
result handed to ``execute`` / ``begin_analysis``. Without an observer
neither is used, so a plain run pays one attribute test per bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple, Protocol

from engine.errors import StrategyError
from engine.market.bar import Bar
from engine.state import Action, ClosedTrade, Costs, Execution, Position, StateMachine
from engine.state.orders import Order

#: The result of detect_opportunity (a table of context fields, not an action).
DETECT: Final = "detect_opportunity"
#: What the strategy's function returned to the machine in a bar.
StrategyResult = Action | str | None


class BarTrading(NamedTuple):
    """The strategy's result in one bar and the machine at the bar's end.

    ``bars_held`` is taken then (the machine advances the position's in place).
    """

    result: StrategyResult
    refusal: StrategyError | None
    closed: tuple[ClosedTrade, ...]
    state: str
    position: Position | None
    bars_held: int
    order: Order | None
    order_expired: bool
    order_refused: str | None
    realized_pnl: float
    fees_paid: float
    equity: float


class TradeObserver(Protocol):
    """Sees every symbol's machine settings and every bar's trading."""

    def book_opened(self, symbol: str, costs: Costs, execution: Execution) -> None:
        """A symbol's machine starts with these costs and settings."""

    def bar_traded(self, symbol: str, bar: Bar, trading: BarTrading) -> None:
        """``bar`` went through the machine (after ``mark``)."""


class RecordingMachine(StateMachine):
    """A StateMachine that remembers the last strategy result and its refusal."""

    __slots__ = ("refusal", "result")

    def __init__(self, costs: Costs, execution: Execution) -> None:
        super().__init__(costs=costs, execution=execution)
        self.result: StrategyResult = None
        self.refusal: StrategyError | None = None

    def begin_analysis(self, fields: Mapping[str, object], bar: Bar) -> None:
        """As StateMachine's, recorded."""
        self.result = DETECT
        try:
            super().begin_analysis(fields, bar)
        except StrategyError as exc:
            self.refusal = exc
            raise

    def execute(self, action: Action, bar: Bar) -> ClosedTrade | None:
        """As StateMachine's, recorded."""
        self.result = action
        try:
            return super().execute(action, bar)
        except StrategyError as exc:
            self.refusal = exc
            raise

    def trading(self, exit_trade: ClosedTrade | None, step_trade: ClosedTrade | None,
                equity: float) -> BarTrading:
        """The bar's BarTrading (the trades closed by auto-exit and by the result);
        forgets the recorded result."""
        # Runs on the run's thread every bar: the tuple is built in place (no
        # NamedTuple.__new__ frame, no generator): 1.2 -> 0.75 µs a call (timeit).
        pos = self._position
        account = self.account
        if exit_trade is None:
            closed: tuple[ClosedTrade, ...] = () if step_trade is None else (step_trade,)
        else:
            closed = (exit_trade,) if step_trade is None else (exit_trade, step_trade)
        out = _new(BarTrading, (self.result, self.refusal, closed, str(self._state), pos,
                                0 if pos is None else pos.bars_held, self._order,
                                self.order_expired, self.order_refused, account.realized_pnl,
                                account.fees_paid, equity))
        self.result = None
        self.refusal = None
        return out


#: ``tuple.__new__``: builds a BarTrading from a tuple without its Python-level __new__.
_new: Final = tuple.__new__
