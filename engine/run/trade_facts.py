"""What the journal keeps of a trade beyond ``ClosedTrade`` (docs/design.md §8).

* ``entry_reason``: the entry action's ``reason`` text, else its name (``enter_long``);
  ``exit_note``: the exit action's ``reason`` text (None for an auto-exit or none given).
* ``bars_held``: bars after the entry bar up to and including the exit bar.
* ``slippage``: what slippage cost the two fills, in currency: ``|fill - reference| *
  quantity`` for each slipped fill (docs/design.md §4: market fills at the close, stop
  fills at the level or the open they gapped through); 0 for limit and target fills.
* ``mae_pct`` / ``mfe_pct``: the worst / best excursion while open, in percent of the
  entry price in the trade's direction (``mae_pct <= 0 <= mfe_pct``), over the entry
  fill, the exit fill and the low and high of every bar after the entry bar through the
  exit bar — of an auto-exit's bar only the fill counts (what the bar did after the stop
  or target filled is not the trade's).
* ``stop_loss`` / ``take_profit``: the levels set when the trade closed.

The runner tracks the lows and highs itself (two comparisons per bar in position);
this class keeps the entry facts from the transitions until the trade closes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TypedDict

from engine.market.bar import Bar
from engine.state import (
    ClosedTrade,
    Costs,
    ExitReason,
    Position,
    State,
    StateMachine,
    Transition,
)


class TradeFactFields(TypedDict):
    """The ``record_trade`` keywords this module fills."""

    entry_reason: str | None
    exit_note: str | None
    slippage: float | None
    bars_held: int | None
    mae_pct: float | None
    mfe_pct: float | None
    stop_loss: float | None
    take_profit: float | None


@dataclass(frozen=True, slots=True)
class _Entry:
    reason: str
    bar: int  # the runner's bar count at the entry bar
    slippage: float | None


class TradeFacts:
    """Entry facts of the open position, and of positions closed but not yet journaled."""

    __slots__ = ("_closing", "_open")

    def __init__(self) -> None:
        self._open: _Entry | None = None
        self._closing: deque[tuple[_Entry | None, str | None]] = deque()

    def transition(self, t: Transition, machine: StateMachine, bar: Bar, bars: int) -> None:
        """Note an entry (into IN_POSITION) or an exit (out of it), in transition order."""
        if t.from_state is State.IN_POSITION:
            self._closing.append((self._open, t.note))
            self._open = None
        if t.to_state is State.IN_POSITION:
            pos = machine.position
            slip = None if pos is None else _entry_slippage(pos, bar, machine.costs)
            self._open = _Entry(t.note or t.reason, bars, slip)

    def close(self, trade: ClosedTrade, held: Position | None, bar: Bar, costs: Costs,
              bars: int, low: float, high: float) -> TradeFactFields:
        """The ``record_trade`` keywords of ``trade``, closed in ``bar`` (the runner's
        ``bars``-th); ``low``/``high``: the extremes of the bars it was held through."""
        entry, note = self._closing.popleft() if self._closing else (None, None)
        exit_slip = _exit_slippage(trade, held, bar, costs)
        slippage = None
        if entry is not None and entry.slippage is not None and exit_slip is not None:
            slippage = entry.slippage + exit_slip
        lo = min(low, trade.entry_price, trade.exit_price)
        hi = max(high, trade.entry_price, trade.exit_price)
        e = trade.entry_price
        long = trade.side == "long"
        return {
            "entry_reason": None if entry is None else entry.reason,
            "exit_note": note,
            "slippage": slippage,
            "bars_held": None if entry is None else bars - entry.bar,
            "mae_pct": (lo / e - 1.0) * 100.0 if long else (1.0 - hi / e) * 100.0,
            "mfe_pct": (hi / e - 1.0) * 100.0 if long else (1.0 - lo / e) * 100.0,
            "stop_loss": None if held is None else held.stop_loss,
            "take_profit": None if held is None else held.take_profit,
        }


def _slipped(price: float, reference: float, direction: float, quantity: float,
             costs: Costs) -> float | None:
    """``|price - reference| * quantity`` when ``price`` is ``reference`` slipped for a
    fill that buys (+1) or sells (-1); None when it is not that fill."""
    if price == costs.adverse(reference, direction):
        return abs(price - reference) * quantity
    return None


def _entry_slippage(pos: Position, bar: Bar, costs: Costs) -> float:
    """A market entry fills at the slipped close (``--fill close``) or the slipped open
    of the bar after the decision (``next-open``, or a stop entry that gapped); a limit
    entry has none. (A stop entry filled inside the bar slips from its stop price,
    which is not known here: counted as 0.)"""
    for reference in (bar.close, bar.open):
        slip = _slipped(pos.entry_price, reference, pos.direction, pos.quantity, costs)
        if slip is not None:
            return slip
    return 0.0


def _exit_slippage(trade: ClosedTrade, held: Position | None, bar: Bar,
                   costs: Costs) -> float | None:
    """The exit fill's slippage (None when the position it closed is unknown)."""
    if held is None:
        return None
    if trade.exit_reason is ExitReason.TAKE_PROFIT:
        return 0.0
    refs = (held.stop_loss, bar.open) if trade.exit_reason is ExitReason.STOP_LOSS \
        else (bar.close,)
    for ref in refs:
        if ref is not None:
            slip = _slipped(trade.exit_price, ref, -held.direction, trade.quantity, costs)
            if slip is not None:
                return slip
    return 0.0
