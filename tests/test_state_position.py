"""Position and ClosedTrade: their written-out __init__ against their dataclass fields."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from engine.state.position import ClosedTrade, ExitReason, Position, Side

#: A distinct value of each field's type, by field name.
SAMPLE = {"symbol": "ETHUSDT", "side": Side.SHORT, "quantity": 2.0, "entry_price": 3.0,
          "entry_time": 7, "entry_fee": 0.125, "stop_loss": 3.5, "take_profit": 2.0,
          "bars_held": 4, "exit_time": 9, "exit_price": 2.5, "fees": 0.25, "pnl": 0.75,
          "exit_reason": ExitReason.TAKE_PROFIT}


@pytest.mark.parametrize("cls", [Position, ClosedTrade])
def test_init_takes_the_fields_in_order_with_their_defaults(cls: type) -> None:
    """The __init__ (written out so that it compiles natively, where it has no
    inspectable signature) is the one the dataclass would generate: positional
    arguments in field order, and each omitted field at its default."""
    fields = dataclasses.fields(cls)
    values = [SAMPLE[f.name] for f in fields]
    assert dataclasses.astuple(cls(*values)) == tuple(values)
    required = [f for f in fields if f.default is dataclasses.MISSING]
    bare = cls(*[SAMPLE[f.name] for f in required])
    for f in fields[len(required):]:
        assert getattr(bare, f.name) == f.default, f.name


def test_init_sets_every_field_and_the_record_stays_frozen() -> None:
    values: dict[str, Any] = {
        "symbol": "BTCUSDT", "side": Side.SHORT, "quantity": 2.0, "entry_time": 7,
        "entry_price": 3.0, "exit_time": 9, "exit_price": 2.5, "fees": 0.25, "pnl": 0.75,
        "exit_reason": ExitReason.TAKE_PROFIT}
    trade = ClosedTrade(**values)
    assert dataclasses.asdict(trade) == values
    pos = Position("BTCUSDT", Side.LONG, 1.5, 100.0, 5, 0.1, stop_loss=99.0)
    assert (pos.take_profit, pos.bars_held, pos.stop_loss) == (None, 0, 99.0)
    assert dataclasses.replace(pos, take_profit=110.0).take_profit == 110.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        pos.quantity = 3.0  # type: ignore[misc]
