"""How a symbol's machine executes orders: fill mode of market orders, starting cash, leverage.

One frozen object with its defaults and ranges beside the fields, so a run
configuration (``--fill``, ``--cash``, ``--leverage``) only has to build it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from engine.errors import ConfigError


class FillMode(StrEnum):
    """Where a market order fills (the value is the command-line spelling)."""

    #: at the decision bar's close (TradingView's "process orders on close")
    CLOSE = "close"
    #: at the next bar's open (backtesting.py's default)
    NEXT_OPEN = "next-open"


#: the largest leverage accepted
MAX_LEVERAGE = 100.0
#: the leverage of a run (``--leverage``, issue 12). A bare machine's default is None
#: (no cash check) so that runs and tests written before the check trade as before.
DEFAULT_LEVERAGE = 1.0
#: the starting equity of a machine and of a run (``--cash``)
DEFAULT_CASH = 10_000.0


@dataclass(frozen=True, slots=True)
class Execution:
    """Execution settings of one machine (docs/design.md §4).

    * ``fill``: ``"close"`` (default) or ``"next-open"``, for market orders
      (slipped either way); orders with a price are limit or stop orders.
    * ``cash``: the starting equity, finite and > 0 (default 10,000).
    * ``leverage``: an entry's cost plus fee may be at most equity x leverage,
      1 <= leverage <= 100; None (the default) = no cash check, today's
      behaviour. A run passes ``DEFAULT_LEVERAGE`` (1: no borrowing) unless told.
    """

    fill: FillMode = FillMode.CLOSE
    cash: float = DEFAULT_CASH
    leverage: float | None = None

    def __post_init__(self) -> None:
        fill: object = self.fill
        if not isinstance(fill, str) or fill not in FillMode._value2member_map_:
            choices = " or ".join(repr(m.value) for m in FillMode)
            raise ConfigError(f"execution: fill = {fill!r} must be {choices}")
        object.__setattr__(self, "fill", FillMode(fill))
        cash = _number("cash", self.cash)
        if not 0.0 < cash < math.inf:
            raise ConfigError(f"execution: cash = {self.cash!r} must be a finite number > 0")
        object.__setattr__(self, "cash", cash)
        if self.leverage is None:
            return
        leverage = _number("leverage", self.leverage)
        if not 1.0 <= leverage <= MAX_LEVERAGE:
            raise ConfigError(
                f"execution: leverage = {self.leverage!r} must be in [1, {MAX_LEVERAGE:g}] "
                "(or None: no cash check)"
            )
        object.__setattr__(self, "leverage", leverage)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"execution: {name} = {value!r} must be a number")
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        return math.inf
