"""The cost model of a fill: fee and slippage.

Its own module, outside the compiled core (engine/native.py): a validating
container built once per run, whose checks must see a value of any type, and
which verify/ subclasses (a mutant model with the slippage's sign reversed).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Costs:
    """Trading costs: fee and slippage in basis points (1 bp = 0.01 %)."""

    fee_bps: float = 10.0
    slippage_bps: float = 0.0

    def __post_init__(self) -> None:
        for name in ("fee_bps", "slippage_bps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"costs: {name} = {value!r} must be a number")
            if not 0.0 <= value < 10_000.0:
                raise ConfigError(f"costs: {name} = {value!r} must be in [0, 10000) bps")

    def fee(self, price: float, quantity: float) -> float:
        """The fee of one fill."""
        return self.fee_bps * price * quantity / 1e4

    def adverse(self, price: float, direction: float) -> float:
        """``price`` moved against a trade that buys (direction +1) or sells (-1)."""
        return price * (1.0 + direction * self.slippage_bps / 1e4)
