"""Position sizing and the cash check of an entry (docs/design.md §4).

Pure functions of the entry action, its fill price, the equity and the costs.
A refusal is a ``Refused`` naming the field, its value and the problem; the
machine turns it into an ``ActionError`` naming the action and the state.
"""

from __future__ import annotations

import math

from engine.state.actions import EnterLong, EnterShort
from engine.state.checks import Refused
from engine.state.costs import Costs


def entry_quantity(
    action: EnterLong | EnterShort, fill: float, equity: float, costs: Costs
) -> float:
    """The units an entry buys (or sells short) at ``fill``.

    * ``quantity``: as given.
    * ``size``: ``size * equity / (fill + fee of one unit at fill)``, so that
      cost + entry fee = size x equity.
    * ``risk``: ``risk * equity / loss of one unit if the stop fills``, where
      that loss = ``d * (fill - stop_fill) + fee(fill) + fee(stop_fill)`` per unit,
      ``stop_fill`` the stop level slipped against the position and ``d`` +1
      long, -1 short: the trade loses risk x equity net of both fees when the
      stop fills at its level. A fill at or beyond the stop is refused.
    """
    if action.quantity is not None:
        return action.quantity
    if action.size is not None:
        return action.size * equity / (fill + costs.fee(fill, 1.0))
    risk, stop = action.risk, action.stop_loss
    assert risk is not None and stop is not None  # checked before sizing
    direction = 1.0 if isinstance(action, EnterLong) else -1.0
    if direction * (fill - stop) <= 0.0:
        raise Refused("stop_loss", stop, f"leaves no room to size by risk: the fill {fill!r} "
                                         "is at or beyond it")
    stop_fill = costs.adverse(stop, -direction)
    per_unit = direction * (fill - stop_fill) + costs.fee(fill, 1.0) + costs.fee(stop_fill, 1.0)
    return risk * equity / per_unit


def check_cash(
    action: EnterLong | EnterShort, quantity: float, fill: float, equity: float,
    leverage: float | None, costs: Costs,
) -> None:
    """Refuse an entry whose cost (quantity x fill) plus fee exceeds equity x leverage
    (no limit when ``leverage`` is None); refuse a notional that overflows.

    A ``size`` entry passes by construction (cost + fee = size x equity <= equity)
    and is not recomputed, so rounding cannot refuse ``size = 1``.
    """
    field = "quantity" if action.quantity is not None else "risk"
    cost = quantity * fill
    if not math.isfinite(cost * 2.0):
        # P&L, fees and equity would turn into inf/NaN (headroom for the exit side).
        raise Refused(field, getattr(action, field),
                      f"makes the notional at price {fill:g} overflow")
    if action.size is not None or leverage is None:
        return
    fee = costs.fee(fill, quantity)
    limit = equity * leverage
    if cost + fee > limit:
        raise Refused(
            field, getattr(action, field),
            f"needs cost {cost:.2f} ({quantity:g} x {fill:g}) + fee {fee:.2f} = "
            f"{cost + fee:.2f}, more than equity {equity:.2f} x leverage {leverage:g} = "
            f"{limit:.2f}",
        )
