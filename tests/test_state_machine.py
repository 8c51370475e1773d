"""StateMachine: transitions, validation, auto-exit fills and P&L to the cent (docs/design.md §4).

Every expected number is computed by hand in the comment beside it:
fee = fee_bps * price * qty / 1e4 per fill (default 10 bps = 0.1 %).
"""

from __future__ import annotations

from typing import Any

import pytest
from factories import MINUTE_MS, make_bar

from engine.errors import MarketDataError, StrategyError
from engine.market import Bar
from engine.state import (
    ActionError,
    CancelAnalysis,
    ClosedTrade,
    Costs,
    EnterLong,
    EnterShort,
    Execution,
    Exit,
    ExitReason,
    Side,
    State,
    StateMachine,
    Transition,
    UpdateStopLoss,
    UpdateTakeProfit,
    parse_action,
)

MIN = MINUTE_MS
FLAT = make_bar(0, 100.0, open=100.0, high=101.0, low=99.0)  # entry bar: close 100


def analyzing(**kwargs: Any) -> StateMachine:
    m = StateMachine(**kwargs)
    m.begin_analysis({"signal": "x"}, FLAT)
    return m


def long_at_100(qty: float = 2.0, stop: float | None = 95.0, target: float | None = 110.0,
                **kwargs: Any) -> StateMachine:
    m = analyzing(**kwargs)
    m.execute(EnterLong(qty, stop_loss=stop, take_profit=target), FLAT)
    return m


def short_at_100(qty: float = 3.0, stop: float | None = 105.0, target: float | None = 90.0,
                 **kwargs: Any) -> StateMachine:
    m = analyzing(**kwargs)
    m.execute(EnterShort(qty, stop_loss=stop, take_profit=target), FLAT)
    return m


def snapshot(m: StateMachine) -> tuple[object, ...]:
    a = m.account
    return (m.state, m.position, m.context.as_dict(), m.history, m.transition_count,
            a.realized_pnl, a.fees_paid, a.trades, a.equity)


# -- transitions ---------------------------------------------------------------


def test_full_cycle_transitions() -> None:
    m = StateMachine()
    assert (m.state, m.position) == (State.IDLE, None)  # a tuple: no narrowing of m.state
    m.begin_analysis({"level": 99.5, "n": 3, "why": "dip", "armed": True}, FLAT)
    assert (m.state, m.context.as_dict()) == (
        State.ANALYZING, {"level": 99.5, "n": 3, "why": "dip", "armed": True})
    m.execute(EnterLong(1.0, reason="go"), make_bar(1, 100.0, open=100.0, high=101.0, low=99.0))
    assert (m.state, m.position is not None) == (State.IN_POSITION, True)
    trade = m.execute(Exit(), make_bar(2, 101.0, open=100.0, high=102.0, low=99.0))
    assert trade is not None and trade.exit_reason is ExitReason.STRATEGY
    assert m.state is State.IDLE and m.position is None
    assert m.context.as_dict() == {}  # cleared on exit by default
    assert m.history == (
        Transition(State.IDLE, State.ANALYZING, "detect_opportunity", 0),
        Transition(State.ANALYZING, State.IN_POSITION, "enter_long", MIN, "go"),
        Transition(State.IN_POSITION, State.IDLE, "exit", 2 * MIN),
    )


def test_cancel_analysis_returns_to_idle() -> None:
    m = analyzing()
    assert m.execute(CancelAnalysis(reason="no volume"), FLAT) is None
    assert m.state is State.IDLE
    assert m.history[-1] == Transition(State.ANALYZING, State.IDLE, "cancel_analysis", 0,
                                       "no volume")


def test_context_kept_on_exit_when_configured() -> None:
    m = long_at_100(clear_context_on_exit=False)
    m.execute(Exit(), make_bar(1, 100.0, open=100.0, high=101.0, low=99.0))
    assert m.context.as_dict() == {"signal": "x"}


def test_context_cleared_on_auto_exit() -> None:
    m = long_at_100()
    assert m.auto_exit(make_bar(1, 95.0, open=96.0, high=97.0, low=94.0)) is not None
    assert m.context.as_dict() == {}


def test_history_keeps_the_last_100() -> None:
    m = StateMachine()
    for i in range(130):  # 260 transitions
        b = make_bar(i, 100.0, open=100.0, high=101.0, low=99.0)
        m.begin_analysis({}, b)
        m.execute(CancelAnalysis(), b)
    assert len(m.history) == 100
    assert m.transition_count == 260
    assert m.history[-1].timestamp == 129 * MIN
    assert m.history[0].timestamp == 80 * MIN  # transitions 160..259 = bars 80..129


# -- refused actions: one per rule, each naming the field, nothing changes --------


def refuse(m: StateMachine, action: Any, b: Bar, field: str) -> ActionError:
    before = snapshot(m)
    with pytest.raises(ActionError) as info:
        m.execute(action, b)
    err = info.value
    assert isinstance(err, StrategyError)
    assert err.field == field
    assert f"field {field!r}" in str(err)
    assert err.action == action.name and f"action {action.name!r}" in str(err)
    assert err.state == m.state.value and f"(state {m.state.value})" in str(err)
    assert snapshot(m) == before
    return err


@pytest.mark.parametrize("action", [CancelAnalysis(), EnterLong(1.0), EnterShort(1.0), Exit(),
                                    UpdateStopLoss(90.0), UpdateTakeProfit(110.0)])
def test_no_action_is_allowed_when_idle(action: Any) -> None:
    refuse(StateMachine(), action, FLAT, "action")


@pytest.mark.parametrize("action", [Exit(), UpdateStopLoss(90.0), UpdateTakeProfit(110.0)])
def test_position_actions_refused_while_analyzing(action: Any) -> None:
    err = refuse(analyzing(), action, FLAT, "action")
    assert "only allowed in state in_position" in str(err)


@pytest.mark.parametrize("action", [CancelAnalysis(), EnterLong(1.0), EnterShort(1.0)])
def test_analysis_actions_refused_in_position(action: Any) -> None:
    refuse(long_at_100(), action, make_bar(1, 100.0, open=100.0, high=101.0, low=99.0), "action")


@pytest.mark.parametrize("qty", [0.0, -1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("cls", [EnterLong, EnterShort])
def test_quantity_must_be_positive(cls: Any, qty: float) -> None:
    refuse(analyzing(), cls(qty), FLAT, "quantity")


@pytest.mark.parametrize("cls", [EnterLong, EnterShort])
def test_quantity_whose_notional_overflows_is_refused(cls: Any) -> None:
    # 1e306 units at 100 is 1e308 of notional: the exit side and the P&L would be inf.
    err = refuse(analyzing(), cls(1e306), FLAT, "quantity")
    assert "overflow" in str(err)


@pytest.mark.parametrize(("cls", "price"), [(EnterLong, 100.01), (EnterShort, 99.99)])
def test_entry_limit_beyond_the_close_is_refused(cls: Any, price: float) -> None:
    # An explicit price is a limit order for later bars (tests/test_state_orders.py); one
    # on the far side of the close would fill at once: a market order in disguise.
    err = refuse(analyzing(), cls(1.0, price=price), FLAT, "price")
    assert "market order in disguise" in str(err)


@pytest.mark.parametrize("stop", [100.0, 100.5, 0.0, -5.0])
def test_long_stop_must_be_below_entry(stop: float) -> None:
    refuse(analyzing(), EnterLong(1.0, stop_loss=stop), FLAT, "stop_loss")


@pytest.mark.parametrize("target", [100.0, 99.0])
def test_long_target_must_be_above_entry(target: float) -> None:
    refuse(analyzing(), EnterLong(1.0, take_profit=target), FLAT, "take_profit")


@pytest.mark.parametrize("stop", [100.0, 99.0, float("inf")])
def test_short_stop_must_be_above_entry(stop: float) -> None:
    refuse(analyzing(), EnterShort(1.0, stop_loss=stop), FLAT, "stop_loss")


@pytest.mark.parametrize("target", [100.0, 101.0, 0.0])
def test_short_target_must_be_below_entry(target: float) -> None:
    refuse(analyzing(), EnterShort(1.0, take_profit=target), FLAT, "take_profit")


def test_sides_are_checked_against_the_explicit_price() -> None:
    # Entry at 99.2: a stop at 99.5 is above the entry although below the close.
    refuse(analyzing(), EnterLong(1.0, price=99.2, stop_loss=99.5), FLAT, "stop_loss")


def test_sides_are_checked_against_the_slipped_fill() -> None:
    # 100 bps slippage: a short fills at 99.0; a target at 99.5 is above that fill.
    m = analyzing(costs=Costs(slippage_bps=100.0))
    refuse(m, EnterShort(1.0, take_profit=99.5), FLAT, "take_profit")


NEXT = make_bar(1, 103.0, open=100.0, high=104.0, low=99.0)  # close 103


@pytest.mark.parametrize("stop", [103.0, 104.0, 0.0])
def test_long_stop_update_must_be_below_close(stop: float) -> None:
    refuse(long_at_100(), UpdateStopLoss(stop), NEXT, "stop_loss")


@pytest.mark.parametrize("stop", [103.0, 102.0])
def test_short_stop_update_must_be_above_close(stop: float) -> None:
    refuse(short_at_100(stop=None), UpdateStopLoss(stop), NEXT, "stop_loss")


@pytest.mark.parametrize("target", [103.0, 101.0])
def test_long_target_update_must_be_above_close(target: float) -> None:
    refuse(long_at_100(), UpdateTakeProfit(target), NEXT, "take_profit")


@pytest.mark.parametrize("target", [103.0, 104.0, -1.0])
def test_short_target_update_must_be_below_close(target: float) -> None:
    refuse(short_at_100(stop=None), UpdateTakeProfit(target), NEXT, "take_profit")


@pytest.mark.parametrize("price", [98.0, 102.99])
def test_long_exit_limit_below_the_close_is_refused(price: float) -> None:
    refuse(long_at_100(), Exit(price=price), NEXT, "price")


def test_updates_move_levels() -> None:
    m = long_at_100()
    m.execute(UpdateStopLoss(101.0), NEXT)  # trail above entry: fine, below close 103
    m.execute(UpdateTakeProfit(120.0), NEXT)
    assert m.position is not None
    assert (m.position.stop_loss, m.position.take_profit) == (101.0, 120.0)
    assert m.state is State.IN_POSITION
    assert m.transition_count == 2  # updates are not transitions


def test_execute_refuses_a_non_action() -> None:
    m = analyzing()
    before = snapshot(m)
    with pytest.raises(StrategyError, match="is not an action"):
        m.execute({"action": "exit"}, FLAT)  # type: ignore[arg-type]
    assert snapshot(m) == before


# -- begin_analysis ------------------------------------------------------------------


def test_begin_analysis_only_when_idle() -> None:
    m = analyzing()
    before = snapshot(m)
    with pytest.raises(StrategyError, match="state analyzing"):
        m.begin_analysis({"a": 1}, FLAT)
    assert snapshot(m) == before


@pytest.mark.parametrize("value", [{"x": 1}, [1, 2], print, None, 1 + 2j])
def test_begin_analysis_refuses_non_scalar_values(value: object) -> None:
    m = StateMachine()
    before = snapshot(m)
    with pytest.raises(StrategyError, match=r"key 'bad'") as info:
        m.begin_analysis({"good": 1.0, "bad": value}, FLAT)
    assert type(value).__name__ in str(info.value)
    assert snapshot(m) == before  # 'good' was not stored either


def test_begin_analysis_refuses_reserved_keys() -> None:
    m = StateMachine()
    with pytest.raises(StrategyError, match=r"key 'state' is reserved"):
        m.begin_analysis({"state": "bullish"}, FLAT)
    assert m.state is State.IDLE and len(m.context) == 0


def test_begin_analysis_refuses_non_string_keys() -> None:
    m = StateMachine()
    with pytest.raises(StrategyError, match=r"key 1 \(int\)"):
        m.begin_analysis({1: "first"}, FLAT)  # type: ignore[dict-item]
    assert m.state is State.IDLE and len(m.context) == 0


# -- auto-exit: longs (entry 100 at market, qty 2, entry fee 100*2*0.001 = 0.20) -----


def expect_trade(m: StateMachine, b: Bar, price: float, reason: ExitReason, pnl: float,
                 fees: float) -> ClosedTrade:
    trade = m.auto_exit(b)
    assert trade is not None
    assert trade.exit_price == pytest.approx(price, abs=1e-12)
    assert trade.exit_reason is reason
    assert trade.pnl == pytest.approx(pnl, abs=1e-9)
    assert trade.fees == pytest.approx(fees, abs=1e-12)
    assert trade.exit_time == b.timestamp
    assert m.state is State.IDLE and m.position is None
    assert m.account.realized_pnl == trade.pnl
    assert m.history[-1].reason == reason.value
    return trade


def test_long_stop_inside_bar_fills_at_stop() -> None:
    # fill 95; exit fee 0.19; pnl = (95-100)*2 - 0.20 - 0.19 = -10.39
    expect_trade(long_at_100(), make_bar(1, 96.0, open=98.0, high=99.0, low=94.0),
                 95.0, ExitReason.STOP_LOSS, -10.39, 0.39)


def test_long_stop_touched_exactly() -> None:
    expect_trade(long_at_100(), make_bar(1, 96.0, open=98.0, high=99.0, low=95.0),
                 95.0, ExitReason.STOP_LOSS, -10.39, 0.39)


def test_long_gap_below_stop_fills_at_open() -> None:
    # fill 93; fee 0.186; pnl = -14 - 0.386 = -14.386
    expect_trade(long_at_100(), make_bar(1, 92.0, open=93.0, high=94.0, low=90.0),
                 93.0, ExitReason.STOP_LOSS, -14.386, 0.386)


def test_long_target_inside_bar_fills_at_target() -> None:
    # fill 110; fee 0.22; pnl = 20 - 0.42 = 19.58
    expect_trade(long_at_100(), make_bar(1, 108.0, open=105.0, high=111.0, low=104.0), 110.0,
                 ExitReason.TAKE_PROFIT, 19.58, 0.42)


def test_long_gap_above_target_fills_at_the_better_open() -> None:
    # fill 112; fee 0.224; pnl = 24 - 0.424 = 23.576
    expect_trade(long_at_100(), make_bar(1, 112.5, open=112.0, high=113.0, low=111.0), 112.0,
                 ExitReason.TAKE_PROFIT, 23.576, 0.424)


def test_long_both_touched_stop_wins() -> None:
    expect_trade(long_at_100(), make_bar(1, 105.0, open=100.0, high=111.0, low=94.0), 95.0,
                 ExitReason.STOP_LOSS, -10.39, 0.39)


def test_long_gap_through_target_beats_a_later_stop_touch() -> None:
    # The open (112) is already past the target: that fill happened first.
    expect_trade(long_at_100(), make_bar(1, 96.0, open=112.0, high=112.0, low=94.0), 112.0,
                 ExitReason.TAKE_PROFIT, 23.576, 0.424)


def test_long_untouched_levels_keep_the_position() -> None:
    m = long_at_100()
    assert m.auto_exit(make_bar(1, 100.0, open=100.0, high=109.99, low=95.01)) is None
    assert m.state is State.IN_POSITION


def test_long_without_levels_never_auto_exits() -> None:
    m = long_at_100(stop=None, target=None)
    assert m.auto_exit(make_bar(1, 60.0, open=50.0, high=500.0, low=10.0)) is None


def test_entry_bar_is_not_checked_again() -> None:
    m = analyzing()
    b = make_bar(0, 100.0, open=100.0, high=101.0, low=90.0)
    m.execute(EnterLong(1.0, stop_loss=95.0), b)
    assert m.auto_exit(b) is None  # the entry takes effect from the next bar
    assert m.state is State.IN_POSITION


def test_long_stop_with_slippage() -> None:
    # 50 bps: entry fill 100*1.005 = 100.5, fee 0.201; stop fill 95*0.995 = 94.525,
    # fee 0.18905; pnl = (94.525-100.5)*2 - 0.201 - 0.18905 = -12.34005
    m = long_at_100(costs=Costs(slippage_bps=50.0))
    assert m.position is not None and m.position.entry_price == pytest.approx(100.5)
    expect_trade(m, make_bar(1, 96.0, open=98.0, high=99.0, low=94.0), 94.525, ExitReason.STOP_LOSS,
                 -12.34005, 0.39005)


def test_long_target_has_no_slippage() -> None:
    # entry 100.5 (fee 0.201); target fill 110 (fee 0.22): pnl = 19 - 0.421 = 18.579
    m = long_at_100(costs=Costs(slippage_bps=50.0))
    expect_trade(m, make_bar(1, 108.0, open=105.0, high=111.0, low=104.0),
                 110.0, ExitReason.TAKE_PROFIT, 18.579, 0.421)


def test_long_gap_stop_with_slippage_slips_from_the_open() -> None:
    # entry 100.5; open 93 -> 93*0.995 = 92.535, fee 0.18507;
    # pnl = (92.535-100.5)*2 - 0.201 - 0.18507 = -16.31607
    m = long_at_100(costs=Costs(slippage_bps=50.0))
    expect_trade(m, make_bar(1, 92.0, open=93.0, high=94.0, low=90.0), 92.535, ExitReason.STOP_LOSS,
                 -16.31607, 0.38607)


# -- auto-exit: shorts (entry 100 at market, qty 3, entry fee 0.30) --------------


def test_short_stop_inside_bar_fills_at_stop() -> None:
    # fill 105; fee 0.315; pnl = (100-105)*3 - 0.615 = -15.615
    expect_trade(short_at_100(), make_bar(1, 104.0, open=101.0, high=106.0, low=100.0), 105.0,
                 ExitReason.STOP_LOSS, -15.615, 0.615)


def test_short_gap_above_stop_fills_at_open() -> None:
    # fill 107; fee 0.321; pnl = -21 - 0.621 = -21.621
    expect_trade(short_at_100(), make_bar(1, 107.5, open=107.0, high=108.0, low=106.0), 107.0,
                 ExitReason.STOP_LOSS, -21.621, 0.621)


def test_short_target_inside_bar_fills_at_target() -> None:
    # fill 90; fee 0.27; pnl = 30 - 0.57 = 29.43
    expect_trade(short_at_100(), make_bar(1, 92.0, open=95.0, high=96.0, low=89.0), 90.0,
                 ExitReason.TAKE_PROFIT, 29.43, 0.57)


def test_short_gap_below_target_fills_at_the_better_open() -> None:
    # fill 88; fee 0.264; pnl = 36 - 0.564 = 35.436
    expect_trade(short_at_100(), make_bar(1, 88.0, open=88.0, high=89.0, low=87.0), 88.0,
                 ExitReason.TAKE_PROFIT, 35.436, 0.564)


def test_short_both_touched_stop_wins() -> None:
    expect_trade(short_at_100(), make_bar(1, 95.0, open=100.0, high=106.0, low=89.0), 105.0,
                 ExitReason.STOP_LOSS, -15.615, 0.615)


def test_short_stop_with_slippage() -> None:
    # 50 bps: entry fill 100*0.995 = 99.5, fee 0.2985; stop fill 105*1.005 = 105.525,
    # fee 0.316575; pnl = (99.5-105.525)*3 - 0.2985 - 0.316575 = -18.690075
    m = short_at_100(costs=Costs(slippage_bps=50.0))
    expect_trade(m, make_bar(1, 104.0, open=101.0, high=106.0, low=100.0),
                 105.525, ExitReason.STOP_LOSS, -18.690075, 0.615075)


def test_short_untouched_levels_keep_the_position() -> None:
    m = short_at_100()
    assert m.auto_exit(make_bar(1, 100.0, open=100.0, high=104.99, low=90.01)) is None
    assert m.position is not None and m.position.side is Side.SHORT


# -- strategy exits, explicit prices, costs -------------------------------------------


def test_long_market_exit_with_slippage() -> None:
    # entry 100.5 (fee 0.201); exit at close 104 * 0.995 = 103.48, fee 0.20696;
    # pnl = (103.48-100.5)*2 - 0.201 - 0.20696 = 5.55204
    m = long_at_100(costs=Costs(slippage_bps=50.0))
    trade = m.execute(Exit(), make_bar(1, 104.0, open=101.0, high=105.0, low=100.0))
    assert trade is not None
    assert trade.exit_price == pytest.approx(103.48)
    assert trade.pnl == pytest.approx(5.55204, abs=1e-9)
    assert trade.exit_reason is ExitReason.STRATEGY


def test_short_market_exit_with_slippage() -> None:
    # entry 99.5 (fee 0.2985); exit buys at 96 * 1.005 = 96.48, fee 0.28944;
    # pnl = (99.5-96.48)*3 - 0.2985 - 0.28944 = 8.47206
    m = short_at_100(costs=Costs(slippage_bps=50.0))
    trade = m.execute(Exit(), make_bar(1, 96.0, open=98.0, high=99.0, low=95.0))
    assert trade is not None
    assert trade.exit_price == pytest.approx(96.48)
    assert trade.pnl == pytest.approx(8.47206, abs=1e-9)


def test_explicit_prices_have_no_slippage() -> None:
    # limit 99.5 filled at t=1 (low 99), sell limit 102 at t=2 (high 103); fees 0.0995 +
    # 0.102: pnl = 2.5 - 0.2015 = 2.2985
    m = analyzing(costs=Costs(slippage_bps=50.0))
    m.execute(EnterLong(1.0, price=99.5), FLAT)
    m.begin_bar(make_bar(1, 100.0, open=100.0, high=100.5, low=99.0))
    assert m.position is not None and m.position.entry_price == 99.5
    m.execute(Exit(price=102.0), make_bar(1, 100.0, open=100.0, high=100.5, low=99.0))
    trade = m.begin_bar(make_bar(2, 101.0, open=101.0, high=103.0, low=100.0))
    assert trade is not None and trade.exit_price == 102.0
    assert trade.pnl == pytest.approx(2.2985, abs=1e-9)


def test_zero_fee() -> None:
    m = long_at_100(costs=Costs(fee_bps=0.0))
    trade = m.execute(Exit(), make_bar(1, 103.0, open=100.0, high=104.0, low=99.0))
    assert trade is not None and trade.pnl == pytest.approx(6.0) and trade.fees == 0.0


def test_fill_order_from_parse_to_trade() -> None:
    m = analyzing()
    m.execute(parse_action({"action": "enter_short", "quantity": 1, "stop_loss": 102}), FLAT)
    trade = m.auto_exit(make_bar(1, 102.0, open=101.0, high=102.5, low=100.0))
    # fill 102; fees 0.1 + 0.102; pnl = -2 - 0.202 = -2.202
    assert trade is not None and trade.pnl == pytest.approx(-2.202, abs=1e-12)


@pytest.mark.parametrize("kwargs", [{"fee_bps": -1.0}, {"slippage_bps": float("nan")},
                                    {"fee_bps": "10"}, {"slippage_bps": 10_000.0}])
def test_bad_costs(kwargs: dict[str, Any]) -> None:
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        Costs(**kwargs)


def test_auto_exit_refuses_a_bar_of_another_symbol() -> None:
    m = long_at_100()
    with pytest.raises(MarketDataError, match="'symbol' = 'ETHUSDT'"):
        m.auto_exit(make_bar(1, 85.0, open=90.0, high=91.0, low=80.0, symbol="ETHUSDT"))
    assert m.state is State.IN_POSITION


# -- equity and account --------------------------------------------------------------


def test_equity_marks_include_the_paid_entry_fee() -> None:
    m = StateMachine()
    assert m.mark(FLAT) == 10_000.0
    m.begin_analysis({}, FLAT)
    m.execute(EnterLong(2.0), FLAT)  # fee 0.20
    assert m.mark(FLAT) == pytest.approx(9_999.8)  # 10000 + 0 - 0.20
    marked = m.mark(make_bar(1, 103.0, open=100.0, high=104.0, low=99.0))
    assert marked == pytest.approx(10_005.8)  # +6 - 0.2
    trade = m.execute(Exit(), make_bar(2, 102.0, open=103.0, high=104.0, low=101.0))
    # exit 102, fee 0.204: pnl = 4 - 0.404 = 3.596
    assert trade is not None and trade.pnl == pytest.approx(3.596)
    assert m.mark(make_bar(2, 102.0, open=103.0, high=104.0, low=101.0)) == pytest.approx(
        10_003.596)
    a = m.account
    assert a.fees_paid == pytest.approx(0.404)
    assert list(a.equity_curve) == pytest.approx([10_000.0, 9_999.8, 10_005.8, 10_003.596])
    # peak 10005.8 -> 10003.596: drawdown 2.204 > the first dip of 0.2
    assert a.max_drawdown == pytest.approx(2.204)
    assert a.max_drawdown_pct == pytest.approx(2.204 / 10_005.8 * 100)


def test_account_statistics() -> None:
    m = StateMachine(execution=Execution(cash=1_000.0), costs=Costs(fee_bps=0.0))
    closes = [(110.0, 1.0), (95.0, 1.0), (120.0, 2.0)]  # pnl +10, -5, +40
    for i, (exit_close, qty) in enumerate(closes):
        b = make_bar(2 * i, 100.0, open=100.0, high=101.0, low=99.0)
        m.begin_analysis({}, b)
        m.execute(EnterLong(qty), b)
        flat = make_bar(2 * i + 1, exit_close, open=exit_close, high=exit_close, low=exit_close)
        m.execute(Exit(), flat)
    a = m.account
    assert [t.pnl for t in a.trades] == [10.0, -5.0, 40.0]
    assert a.realized_pnl == 45.0
    assert (a.wins, a.losses, a.trade_count) == (2, 1, 3)
    assert a.win_rate == pytest.approx(2 / 3)
    assert (a.gross_profit, a.gross_loss) == (50.0, 5.0)
    assert a.profit_factor == 10.0


def test_account_statistics_without_trades() -> None:
    a = StateMachine().account
    assert a.win_rate is None and a.profit_factor is None and a.trades == ()


@pytest.mark.parametrize("equity", [0.0, -1.0, float("inf"), "1000"])
def test_bad_starting_equity(equity: Any) -> None:
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="cash"):
        StateMachine(execution=Execution(cash=equity))
