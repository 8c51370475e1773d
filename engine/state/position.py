"""Positions, costs and closed trades (docs/design.md §4).

P&L conventions (all amounts in quote currency):

* Every fill pays ``fee_bps * fill_price * quantity / 1e4``.
* Slippage moves a fill against the position: market fills (entries and
  exits, at the close or the next open), stop-order entries and stop-loss
  fills. Limit fills (an explicit ``price``) and take-profit fills have none.
* ``Position.entry_price`` is the entry *fill* price (slippage included);
  ``Position.entry_fee`` is the fee already paid for that fill.
* Unrealized P&L at a mark price ``p`` is the gross mark-to-market minus the
  entry fee already paid: ``direction * (p - entry_price) * quantity - entry_fee``.
  The exit fee and exit slippage are not anticipated; they become part of the
  trade's P&L when it closes.
* A closed trade's P&L is ``direction * (exit_price - entry_price) * quantity
  - entry_fee - exit_fee``. So at every mark, equity = starting equity +
  realized P&L (sum of closed trades) + unrealized P&L, exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Final

#: Sets a field of a frozen record in its own __init__ (what a dataclass's does).
_set: Final = object.__setattr__


def reduce_record(record: Any) -> tuple[Any, tuple[object, ...]]:
    """What pickle needs to rebuild a frozen record: its class, called with its
    fields in order. Compiled (engine/native.py), a record has neither the
    ``__dict__`` nor the settable slots of pickle's default; shadow mode's process
    receives positions, trades and orders pickled (bridge/shadow/process.py)."""
    return type(record), tuple(getattr(record, f.name) for f in fields(record))


class Side(StrEnum):
    """Direction of a position."""

    LONG = "long"
    SHORT = "short"


class ExitReason(StrEnum):
    """Why a position closed (the journal stores the value)."""

    STRATEGY = "strategy"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True, slots=True)
class Position:
    """An open position. Immutable except ``bars_held``: updates replace it.

    ``entry_time`` is the timestamp of the bar in which the entry filled (the
    decision bar for a market order at the close, a later bar for an order
    that waited). ``direction`` is +1.0 for long, -1.0 for short.
    ``bars_held`` counts the bars begun after the fill bar (0 in the fill bar,
    1 in the next one, ...); the machine advances it in place once per bar
    (replacing the position every bar would cost about 1 us per bar).
    """

    symbol: str
    side: Side
    quantity: float
    entry_price: float
    entry_time: int
    entry_fee: float
    stop_loss: float | None = None
    take_profit: float | None = None
    bars_held: int = 0

    def __init__(self, symbol: str, side: Side, quantity: float, entry_price: float,
                 entry_time: int, entry_fee: float, stop_loss: float | None = None,
                 take_profit: float | None = None, bars_held: int = 0) -> None:
        # Written out (the dataclass keeps an __init__ it finds): compiled, this one is
        # native, where the generated one is interpreted Python even in a compiled
        # module: with ClosedTrade.__init__, 13.4k fewer CPU instructions a trade
        # (callgrind, bench/five_indicators.lua), 1195 -> 849 ns a Position. The same
        # fields, in the same order, with the same defaults as above
        # (tests/test_state_position.py checks them against the dataclass fields).
        _set(self, "symbol", symbol)
        _set(self, "side", side)
        _set(self, "quantity", quantity)
        _set(self, "entry_price", entry_price)
        _set(self, "entry_time", entry_time)
        _set(self, "entry_fee", entry_fee)
        _set(self, "stop_loss", stop_loss)
        _set(self, "take_profit", take_profit)
        _set(self, "bars_held", bars_held)

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        return reduce_record(self)

    @property
    def direction(self) -> float:
        """+1.0 for long, -1.0 for short."""
        return 1.0 if self.side is Side.LONG else -1.0

    def gross_pnl(self, price: float) -> float:
        """Mark-to-market P&L at ``price`` before any fee."""
        return self.direction * (price - self.entry_price) * self.quantity

    def unrealized_pnl(self, price: float) -> float:
        """P&L if marked at ``price``: gross minus the entry fee already paid."""
        # Inlined gross_pnl: this runs once per bar while in position.
        gross = (price - self.entry_price) * self.quantity
        return (gross if self.side is Side.LONG else -gross) - self.entry_fee


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A finished round trip. ``fees`` = entry fee + exit fee; ``pnl`` is net of them."""

    symbol: str
    side: Side
    quantity: float
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    fees: float
    pnl: float
    exit_reason: ExitReason

    def __init__(self, symbol: str, side: Side, quantity: float, entry_time: int,
                 entry_price: float, exit_time: int, exit_price: float, fees: float,
                 pnl: float, exit_reason: ExitReason) -> None:
        # Written out, natively compiled: see Position.__init__.
        _set(self, "symbol", symbol)
        _set(self, "side", side)
        _set(self, "quantity", quantity)
        _set(self, "entry_time", entry_time)
        _set(self, "entry_price", entry_price)
        _set(self, "exit_time", exit_time)
        _set(self, "exit_price", exit_price)
        _set(self, "fees", fees)
        _set(self, "pnl", pnl)
        _set(self, "exit_reason", exit_reason)

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        return reduce_record(self)

    @property
    def gross_pnl(self) -> float:
        """P&L before fees (slippage is already in the prices)."""
        return self.pnl + self.fees


def close_position(
    position: Position, exit_price: float, exit_fee: float, exit_time: int, reason: ExitReason
) -> ClosedTrade:
    """The trade that results from closing ``position`` at ``exit_price``, paying ``exit_fee``."""
    pnl = position.gross_pnl(exit_price) - position.entry_fee - exit_fee
    return ClosedTrade(
        symbol=position.symbol,
        side=position.side,
        quantity=position.quantity,
        entry_time=position.entry_time,
        entry_price=position.entry_price,
        exit_time=exit_time,
        exit_price=exit_price,
        fees=position.entry_fee + exit_fee,
        pnl=pnl,
        exit_reason=reason,
    )


def is_finite_positive(value: float) -> bool:
    """True for a finite number > 0."""
    return 0.0 < value < math.inf
