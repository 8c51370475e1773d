"""parse_action: the strict gate between a strategy's action table and the machine."""

from __future__ import annotations

import math

import pytest

from engine.errors import StrategyError
from engine.state import (
    ACTION_NAMES,
    ActionError,
    CancelAnalysis,
    EnterLong,
    EnterShort,
    Exit,
    UpdateStopLoss,
    UpdateTakeProfit,
    parse_action,
)


def test_every_action_parses() -> None:
    assert parse_action({"action": "cancel_analysis"}) == CancelAnalysis()
    assert parse_action({"action": "enter_long", "quantity": 2}) == EnterLong(quantity=2.0)
    assert parse_action(
        {"action": "enter_short", "quantity": 1.5, "price": 10, "stop_loss": 11.0,
         "take_profit": 9.0, "reason": "breakdown"}
    ) == EnterShort(1.5, 10.0, 11.0, 9.0, "breakdown")
    assert parse_action(
        {"action": "enter_long", "size": 0.5, "stop_price": 12, "expire_bars": 0}
    ) == EnterLong(size=0.5, stop_price=12.0, expire_bars=0)
    assert parse_action({"action": "enter_long", "risk": 0.01, "stop_loss": 9}) == EnterLong(
        risk=0.01, stop_loss=9.0)
    assert parse_action({"action": "exit"}) == Exit()
    assert parse_action({"action": "exit", "price": 3.5}) == Exit(price=3.5)
    assert parse_action({"action": "update_stop_loss", "stop_loss": 7}) == UpdateStopLoss(7.0)
    assert parse_action({"action": "update_take_profit", "take_profit": 9.5}) == (
        UpdateTakeProfit(9.5))
    assert set(ACTION_NAMES) == {"cancel_analysis", "enter_long", "enter_short", "exit",
                                 "update_stop_loss", "update_take_profit"}


def test_ints_become_floats() -> None:
    action = parse_action({"action": "enter_long", "quantity": 3, "stop_loss": 90})
    assert isinstance(action, EnterLong)
    assert type(action.quantity) is float and type(action.stop_loss) is float


def error_of(fields: dict[object, object]) -> ActionError:
    with pytest.raises(ActionError) as info:
        parse_action(fields)  # type: ignore[arg-type]
    assert isinstance(info.value, StrategyError)
    return info.value


def test_misspelt_field_is_refused_with_suggestion() -> None:
    err = error_of({"action": "enter_long", "quantity": 1, "stop_los": 95.0})
    assert err.field == "stop_los"
    assert err.action == "enter_long"
    assert "did you mean 'stop_loss'?" in str(err)
    assert "'stop_los'" in str(err)


def test_field_of_another_action_is_refused() -> None:
    err = error_of({"action": "update_stop_loss", "stop_loss": 1.0, "take_profit": 2.0})
    assert err.field == "take_profit"
    assert "not a field of 'update_stop_loss'" in str(err)


def test_unknown_action_gets_suggestion() -> None:
    err = error_of({"action": "enter_lng", "quantity": 1})
    assert err.field == "action"
    assert err.value == "enter_lng"
    assert "did you mean 'enter_long'?" in str(err)


def test_unknown_action_without_close_match_lists_actions() -> None:
    err = error_of({"action": "buy"})
    assert "did you mean" not in str(err)
    assert "cancel_analysis, enter_long" in str(err)


def test_missing_action_field_suggests_the_typo() -> None:
    err = error_of({"acton": "exit"})
    assert err.field == "action"
    assert "is missing (did you mean 'acton'?)" in str(err)


@pytest.mark.parametrize("name", [3, None, True, {"x": 1}])
def test_action_name_must_be_a_string(name: object) -> None:
    assert error_of({"action": name}).field == "action"


def test_required_field_missing() -> None:
    # an entry's sizing (exactly one of quantity, size, risk) is checked by the machine
    # (tests/test_state_orders.py::test_no_sizing_field)
    assert error_of({"action": "update_stop_loss"}).field == "stop_loss"
    assert error_of({"action": "update_take_profit"}).field == "take_profit"


@pytest.mark.parametrize("value", ["1", True, None, {"a": 1}, [1, 2]])
@pytest.mark.parametrize("field", ["quantity", "price", "stop_loss", "take_profit", "size",
                                   "risk", "stop_price", "expire_bars"])
def test_number_fields_refuse_other_types(field: str, value: object) -> None:
    fields: dict[object, object] = {"action": "enter_long", "quantity": 1.0, field: value}
    err = error_of(fields)
    assert err.field == field
    assert "must be a number" in str(err)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400])
def test_number_fields_must_be_finite(value: object) -> None:
    err = error_of({"action": "exit", "price": value})
    assert err.field == "price"
    assert "finite" in str(err)


def test_reason_must_be_a_string() -> None:
    err = error_of({"action": "exit", "reason": 5})
    assert err.field == "reason"


def test_non_string_key_is_refused() -> None:
    # A Lua table with an array part converts to integer keys.
    err = error_of({"action": "exit", 1: "x"})
    assert err.field == "1"
    assert "non-string key" in str(err)


def test_parse_action_names_the_state_when_given() -> None:
    with pytest.raises(ActionError) as info:
        parse_action({"action": "enter_long", "quantity": 1.0, "stop_los": 95.0}, "analyzing")
    assert info.value.state == "analyzing" and info.value.field == "stop_los"
    assert str(info.value).endswith("(state analyzing)")
