"""Waiting orders and the price at which a bar fills a waiting entry (docs/design.md §4).

An order waits from the bar that placed it; the first bar that can fill it is
the next one. Every rule is written for a long entry; a short entry mirrors it
(low <-> high, <= <-> >=). Only fills at the market and at a stop level are
slipped; a limit fills at its price or better.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from engine.market.bar import Bar
from engine.state.actions import EnterLong, EnterShort, Exit
from engine.state.costs import Costs
from engine.state.position import Side, reduce_record


class OrderKind(StrEnum):
    """What kind of order waits (the value is what a strategy will see)."""

    MARKET = "market"  # a market order under the next-open fill mode
    LIMIT = "limit"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Order:
    """An order waiting for a later bar. Immutable: each bar without a fill replaces it.

    ``side`` is the side of the position the order opens (an entry) or closes
    (an exit); ``price`` the limit or stop level (None for a market order);
    ``bars_left`` the bars it stays live (None = good till cancelled);
    ``placed`` the timestamp of the bar that placed it; ``action`` the action
    it came from (sizing, levels, reason).
    """

    kind: OrderKind
    side: Side
    price: float | None
    bars_left: int | None
    placed: int
    symbol: str
    action: EnterLong | EnterShort | Exit

    @property
    def is_entry(self) -> bool:
        """True for an entry order, False for an exit order."""
        return not isinstance(self.action, Exit)

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        return reduce_record(self)


def entry_fill(order: Order, bar: Bar, costs: Costs) -> tuple[float, bool] | None:
    """(fill price, filled at the open) if ``bar`` fills the waiting entry ``order``, else None.

    Long (short mirrored): a market order fills at the open, slipped; a limit
    fills at the open when the bar opens at or below it, else at the limit when
    the low reaches it; a stop fills at the open when the bar opens at or above
    it, else at the stop when the high reaches it, slipped either way.
    """
    long = order.side is Side.LONG
    direction = 1.0 if long else -1.0
    op = bar.open
    level = order.price
    if order.kind is OrderKind.MARKET or level is None:
        return costs.adverse(op, direction), True
    if order.kind is OrderKind.LIMIT:
        if op <= level if long else op >= level:
            return op, True
        if bar.low <= level if long else bar.high >= level:
            return level, False
        return None
    if op >= level if long else op <= level:
        return costs.adverse(op, direction), True
    if bar.high >= level if long else bar.low <= level:
        return costs.adverse(level, direction), False
    return None
