"""The checks of an entry or exit that do not depend on the account (docs/design.md §4).

Pure functions of an action's fields and the decision bar's close. A refusal
is a ``Refused`` naming the field, its value and the problem; the machine turns
it into an ``ActionError`` that also names the action and the state.
"""

from __future__ import annotations

import math

from engine.state.actions import DEFAULT_EXPIRE_BARS, EnterLong, EnterShort, Exit
from engine.state.orders import OrderKind
from engine.state.position import Side, is_finite_positive

#: the sizing fields of an entry: exactly one is given
SIZING = ("quantity", "size", "risk")


class Refused(Exception):
    """A field value the machine refuses: ``field``, ``value`` and the ``problem``."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        super().__init__(f"{field} = {value!r} {problem}")
        self.field = field
        self.value = value
        self.problem = problem


def entry_order(
    action: EnterLong | EnterShort, side: Side, close: float
) -> tuple[OrderKind, float, int | None]:
    """Check an entry's sizing and order fields: (kind, limit or stop level, bars_left).

    The level is the close for a market order; bars_left None = good till cancelled.
    """
    sizing(action)
    price, stop_price = action.price, action.stop_price
    bars_left = expiry(action, price is not None or stop_price is not None)
    buy = "buy" if side is Side.LONG else "sell"
    if price is not None:
        if stop_price is not None:
            raise Refused("stop_price", stop_price, "cannot be combined with 'price': stop-limit "
                          "orders are not supported; give price (a limit order) or stop_price "
                          "(a stop order)")
        order_price("price", price, close, f"{buy} limit", above=side is Side.SHORT)
        return OrderKind.LIMIT, price, bars_left
    if stop_price is not None:
        order_price("stop_price", stop_price, close, f"{buy} stop", above=side is Side.LONG)
        return OrderKind.STOP, stop_price, bars_left
    return OrderKind.MARKET, close, bars_left


def sizing(action: EnterLong | EnterShort) -> None:
    """Exactly one of quantity (> 0), size (0 < size <= 1), risk (0 < risk <= 1, with a stop)."""
    quantity, size, risk = action.quantity, action.size, action.risk
    if size is None and risk is None:  # the common case first: one test
        if quantity is None:
            raise Refused("quantity", None, "is required: give exactly one of quantity "
                          "(units), size (fraction of equity), risk (fraction of equity lost "
                          "at the stop)")
        if not is_finite_positive(quantity):
            raise Refused("quantity", quantity, "must be a finite number > 0")
        return
    given = [name for name in SIZING if getattr(action, name) is not None]
    if len(given) > 1:
        raise Refused(given[1], getattr(action, given[1]), f"cannot be combined with "
                      f"{given[0]!r}: give exactly one of quantity, size, risk")
    name = given[0]
    value = getattr(action, name)
    if not 0.0 < value <= 1.0:
        raise Refused(name, value, f"must be a fraction of equity, 0 < {name} <= 1")
    if name == "risk" and action.stop_loss is None:
        raise Refused(name, value, "needs a stop_loss: risk sizes the position by the loss "
                      "if the stop fills")


def expiry(action: EnterLong | EnterShort | Exit, priced: bool) -> int | None:
    """The bars an order stays live, from ``expire_bars`` (None = good till cancelled)."""
    expire = action.expire_bars
    if expire is None:
        return DEFAULT_EXPIRE_BARS
    if not priced:
        fields = "price" if isinstance(action, Exit) else "price or stop_price"
        raise Refused("expire_bars", expire, f"applies only to orders with a {fields} "
                      "(a market order does not wait)")
    if expire < 0:
        raise Refused("expire_bars", expire, "must be >= 0 (0 = good till cancelled)")
    return None if expire == 0 else expire


def exit_price(price: float, side: Side, close: float) -> None:
    """An exit's limit: a long sells (not below the close), a short buys (not above it)."""
    if side is Side.LONG:
        order_price("price", price, close, "sell limit", above=True)
    else:
        order_price("price", price, close, "buy limit", above=False)


def order_price(field: str, price: float, close: float, order: str, above: bool) -> None:
    """A limit or stop level > 0 at or ``above`` (else at or below) the close.

    A buy limit above the close (or a buy stop below it, ...) would fill at once:
    a market order in disguise.
    """
    if not is_finite_positive(price):
        raise Refused(field, price, "must be a finite number > 0")
    if price < close if above else price > close:
        side = "below" if above else "above"
        raise Refused(field, price, f"is {side} the close {close!r}: a {order} {side} the close "
                      f"is a market order in disguise; leave {field} out for a market order")


def levels(side: Side, stop: float | None, target: float | None, ref: float, where: str) -> None:
    """A stop on the protective side of ``ref``, a target on the profitable side."""
    if stop is not None:
        if side is Side.LONG and not 0.0 < stop < ref:
            raise Refused("stop_loss", stop, f"must be > 0 and below {where} {ref!r} for a long")
        if side is Side.SHORT and not ref < stop < math.inf:
            raise Refused("stop_loss", stop, f"must be finite and above {where} {ref!r} "
                          "for a short")
    if target is not None:
        if side is Side.LONG and not ref < target < math.inf:
            raise Refused("take_profit", target, f"must be finite and above {where} {ref!r} "
                          "for a long")
        if side is Side.SHORT and not 0.0 < target < ref:
            raise Refused("take_profit", target, f"must be > 0 and below {where} {ref!r} "
                          "for a short")
