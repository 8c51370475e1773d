"""Bar validation (docs/design.md §2): one test per rule, each asserting that the error names
the field."""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest

from engine.errors import MarketDataError
from engine.market import Bar

GOOD: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "timestamp": 1_700_000_000_000,
    "open": 100.0,
    "high": 101.0,
    "low": 99.0,
    "close": 100.5,
    "volume": 12.5,
}


def make(**changes: Any) -> Bar:
    return Bar(**{**GOOD, **changes})


def assert_rejects(field: str, value: Any, **changes: Any) -> None:
    with pytest.raises(MarketDataError) as info:
        make(**changes)
    msg = str(info.value)
    assert f"field {field!r}" in msg
    assert repr(value) in msg
    assert repr(changes.get("symbol", GOOD["symbol"])) in msg
    assert str(changes.get("timestamp", GOOD["timestamp"])) in msg


def test_valid_bar_keeps_fields() -> None:
    bar = make(bid=100.4, ask=100.6)
    assert (bar.symbol, bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        "BTCUSDT", 1_700_000_000_000, 100.0, 101.0, 99.0, 100.5, 12.5)
    assert (bar.bid, bar.ask) == (100.4, 100.6)


def test_field_positions_name_the_fields() -> None:
    """The per-bar code reads bars by position (engine/market/bar.py): each constant is
    its field's place in Bar, and reads the same value as the attribute."""
    import engine.market.bar as bar_module

    bar = Bar("BTCUSDT", 7, 2.0, 5.0, 1.0, 3.0, 4.0)
    for name in ("symbol", "timestamp", "open", "high", "low", "close", "volume"):
        position = getattr(bar_module, name.upper())
        assert Bar._fields[position] == name
        assert bar[position] == getattr(bar, name)


def test_boundary_values_are_valid() -> None:
    # open == low == close == high and zero volume are all legal.
    bar = make(open=5.0, high=5.0, low=5.0, close=5.0, volume=0.0, timestamp=0)
    assert bar.high == bar.low == 5.0
    assert make(bid=100.0, ask=100.0).mid_price == 100.0


def test_mid_price_uses_quotes_when_both_present() -> None:
    assert make(bid=100.0, ask=101.0).mid_price == 100.5
    assert make().mid_price == 100.5  # close
    assert make(bid=100.0).mid_price == 100.5  # only one quote -> close
    assert make(ask=100.9).mid_price == 100.5


def test_bar_is_frozen() -> None:
    bar = make()
    with pytest.raises(AttributeError):
        bar.close = 3.0  # type: ignore[misc]
    assert not hasattr(bar, "__dict__")


def test_equality_is_between_bars_only() -> None:
    assert make() == make()
    assert make() != make(volume=1.0)
    assert make() != tuple(make())
    assert hash(make()) == hash(make())


def test_pickle_round_trip_and_replace_validate() -> None:
    bar = make()
    assert pickle.loads(pickle.dumps(bar)) == bar
    assert bar._replace(close=100.0).close == 100.0
    with pytest.raises(MarketDataError, match="'close'"):
        bar._replace(close=200.0)
    with pytest.raises(MarketDataError, match="'high'"):
        Bar._make(["BTCUSDT", 1, 1.0, math.inf, 1.0, 1.0, 1.0, None, None])


@pytest.mark.parametrize("field", ["open", "high", "low", "close"])
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_price_must_be_finite_and_positive(field: str, value: float) -> None:
    assert_rejects(field, value, **{field: value})


@pytest.mark.parametrize("field", ["open", "high", "low", "close", "volume"])
@pytest.mark.parametrize("value", ["100", None])
def test_price_and_volume_must_be_numbers(field: str, value: object) -> None:
    assert_rejects(field, value, **{field: value})


@pytest.mark.parametrize("field", ["open", "high", "low", "close", "volume"])
def test_bool_is_not_a_number(field: str) -> None:
    # True == 1 in Python: with every other value 1.0 only the type is wrong.
    ones = {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
    assert_rejects(field, True, **{**ones, field: True})


@pytest.mark.parametrize("value", [-0.5, math.nan, math.inf])
def test_volume_must_be_finite_and_non_negative(value: float) -> None:
    assert_rejects("volume", value, volume=value)


def test_low_above_high() -> None:
    assert_rejects("low", 102.0, open=102.0, close=102.0, low=102.0, high=101.0)


@pytest.mark.parametrize("field", ["open", "close"])
def test_open_close_below_low(field: str) -> None:
    assert_rejects(field, 98.0, **{field: 98.0})


@pytest.mark.parametrize("field", ["open", "close"])
def test_open_close_above_high(field: str) -> None:
    assert_rejects(field, 101.5, **{field: 101.5})


def test_bid_above_ask() -> None:
    assert_rejects("bid", 100.7, bid=100.7, ask=100.6)


@pytest.mark.parametrize("field", ["bid", "ask"])
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf, "1", True])
def test_quotes_must_be_finite_positive_numbers(field: str, value: object) -> None:
    assert_rejects(field, value, **{field: value})


@pytest.mark.parametrize("value", ["", 7, None])
def test_symbol_must_be_non_empty_string(value: object) -> None:
    assert_rejects("symbol", value, symbol=value)


@pytest.mark.parametrize("value", [-1, 2**63, 1.5, "1", None, True])
def test_timestamp_must_be_non_negative_int(value: object) -> None:
    assert_rejects("timestamp", value, timestamp=value)


def test_int_prices_are_accepted() -> None:
    bar = make(open=100, high=101, low=99, close=100, volume=3)
    assert bar.close == 100
