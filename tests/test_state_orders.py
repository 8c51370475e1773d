"""Orders without look-ahead, sizing and the cash check (docs/design.md §4, docs/strategies.md).

Every expected number is computed by hand in the comment beside it. Unless a
test says otherwise: fee 10 bps per fill (fee = price * qty * 0.001), no
slippage, starting equity 10,000; the decision bar ``FLAT`` (t=0) closes at 100.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import ConfigError, MarketDataError
from engine.market import Bar
from engine.state import (
    ActionError,
    CancelAnalysis,
    Costs,
    EnterLong,
    EnterShort,
    Execution,
    Exit,
    ExitReason,
    FillMode,
    OrderKind,
    Side,
    State,
    StateMachine,
    parse_action,
)
from engine.state.execution import DEFAULT_LEVERAGE
from engine.state.orders import Order

MIN = 60_000


def bar(t: int, o: float, h: float, lo: float, c: float, symbol: str = "BTCUSDT") -> Bar:
    return Bar(symbol, t * MIN, o, h, lo, c, 1.0)


FLAT = bar(0, 100.0, 101.0, 99.0, 100.0)
QUIET = (100.0, 100.5, 99.5, 100.0)  # a bar that touches none of the levels used below


def machine(slip: float = 0.0, **execution: Any) -> StateMachine:
    execution.setdefault("leverage", DEFAULT_LEVERAGE)  # the cash check of a run
    m = StateMachine(costs=Costs(fee_bps=10.0, slippage_bps=slip),
                     execution=Execution(**execution))
    m.begin_analysis({"why": "test"}, FLAT)
    return m


def placed(action: Any, slip: float = 0.0, **execution: Any) -> StateMachine:
    m = machine(slip, **execution)
    assert m.execute(action, FLAT) is None
    return m


def now(m: StateMachine) -> tuple[State, Order | None]:
    """State and waiting order read afresh (mypy would keep an earlier assert's narrowing)."""
    return m.state, m.pending_order


def snapshot(m: StateMachine) -> tuple[object, ...]:
    a = m.account
    return (m.state, m.position, m.pending_order, m.context.as_dict(), m.history,
            m.transition_count, a.realized_pnl, a.fees_paid, a.trades)


def refuse(m: StateMachine, action: Any, field: str, b: Bar = FLAT) -> str:
    before = snapshot(m)
    with pytest.raises(ActionError) as info:
        m.execute(action, b)
    err = info.value
    assert err.action == action.name and err.field == field
    assert err.state == m.state.value and f"(state {m.state.value})" in str(err)
    assert snapshot(m) == before
    return str(err)


# -- market orders ---------------------------------------------------------------------


def test_market_entry_fills_at_the_close_by_default() -> None:
    # today's meaning: slipped close 100 * 1.005 = 100.5, in the decision bar
    m = placed(EnterLong(1.0), slip=50.0)
    assert m.state is State.IN_POSITION and m.pending_order is None
    assert m.position is not None and m.position.entry_price == pytest.approx(100.5)
    assert m.position.entry_time == 0


@pytest.mark.parametrize(("cls", "fill"), [(EnterLong, 102.0 * 1.005),   # 102.51
                                           (EnterShort, 102.0 * 0.995)])  # 101.49
def test_market_entry_next_open_fills_at_the_next_open_slipped(cls: Any, fill: float) -> None:
    m = placed(cls(2.0), slip=50.0, fill="next-open")
    order = m.pending_order
    assert (m.state, m.position) == (State.ANALYZING, None) and order is not None
    assert (order.kind, order.price, order.bars_left) == (OrderKind.MARKET, None, 1)
    assert m.begin_bar(bar(1, 102.0, 103.0, 101.0, 102.5)) is None
    pos = m.position
    assert now(m) == (State.IN_POSITION, None) and pos is not None
    assert pos.entry_price == pytest.approx(fill) and pos.entry_time == MIN
    assert pos.entry_fee == pytest.approx(fill * 2.0 * 0.001)
    assert m.history[-1].reason == cls.name and m.history[-1].timestamp == MIN
    assert pos.bars_held == 0


def test_market_exit_next_open_fills_at_the_next_open_slipped() -> None:
    # entry at the next open 100 (slip 0 here), qty 2: fee 0.2; the exit decided at t=1
    # fills at t=2's open 104: pnl = (104-100)*2 - 0.2 - 0.208 = 7.592
    m = placed(EnterLong(2.0), fill="next-open")
    m.begin_bar(bar(1, 100.0, 101.0, 99.5, 100.5))
    assert m.execute(Exit(reason="done"), bar(1, 100.0, 101.0, 99.5, 100.5)) is None
    assert m.pending_order is not None and m.state is State.IN_POSITION
    trade = m.begin_bar(bar(2, 104.0, 105.0, 103.0, 104.5))
    assert trade is not None and trade.exit_price == 104.0
    assert trade.exit_reason is ExitReason.STRATEGY and m.history[-1].note == "done"
    assert trade.pnl == pytest.approx(7.592, abs=1e-9)


def test_next_open_entry_is_protected_in_its_fill_bar() -> None:
    # filled at the open 99: the bar's low 94 came after the entry, the stop 95 fills:
    # pnl = (95-99) - 0.099 - 0.095 = -4.194
    m = placed(EnterLong(1.0, stop_loss=95.0), fill="next-open")
    trade = m.begin_bar(bar(1, 99.0, 99.5, 94.0, 96.0))
    assert trade is not None and trade.exit_reason is ExitReason.STOP_LOSS
    assert (trade.entry_time, trade.exit_time) == (MIN, MIN)
    assert trade.pnl == pytest.approx(-4.194, abs=1e-9)
    assert [t.reason for t in m.history[-2:]] == ["enter_long", "stop_loss"]


# -- limit entries ---------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "limit", "b", "fill"), [
    (EnterLong, 98.0, bar(1, 100.0, 101.0, 97.5, 99.0), 98.0),     # the low reaches 98
    (EnterLong, 98.0, bar(1, 97.0, 99.0, 96.0, 98.5), 97.0),       # opens through it: 97
    (EnterShort, 102.0, bar(1, 100.0, 102.5, 99.0, 101.0), 102.0),  # the high reaches 102
    (EnterShort, 102.0, bar(1, 103.0, 104.0, 101.0, 102.0), 103.0),  # opens through it: 103
])
def test_limit_entry_fills_at_its_price_or_the_better_open(cls: Any, limit: float, b: Bar,
                                                           fill: float) -> None:
    m = placed(cls(1.0, price=limit), slip=50.0)  # limit fills are never slipped
    order = m.pending_order
    assert order is not None and (order.kind, order.price, order.bars_left) == (
        OrderKind.LIMIT, limit, 1)
    assert order.side is (Side.LONG if cls is EnterLong else Side.SHORT)
    assert m.begin_bar(b) is None
    assert m.position is not None and m.position.entry_price == fill
    assert m.position.entry_fee == pytest.approx(fill * 0.001)


def test_limit_is_not_live_in_the_bar_that_placed_it() -> None:
    m = placed(EnterLong(1.0, price=99.5))  # FLAT's low 99 is below 99.5: seen, not traded
    assert m.begin_bar(FLAT) is None
    assert m.position is None and m.pending_order is not None


@pytest.mark.parametrize(("cls", "limit", "b"), [
    (EnterLong, 98.0, bar(1, 100.0, 101.0, 98.01, 99.0)),
    (EnterShort, 102.0, bar(1, 100.0, 101.99, 99.0, 101.0)),
])
def test_unfilled_limit_expires_after_one_bar(cls: Any, limit: float, b: Bar) -> None:
    m = placed(cls(1.0, price=limit))
    assert m.begin_bar(b) is None
    assert m.pending_order is None and m.order_expired and m.order_refused is None
    assert m.state is State.ANALYZING and m.context.as_dict() == {"why": "test"}
    m.begin_bar(bar(2, *QUIET))
    assert not m.order_expired  # the flag describes one bar


def test_expire_bars_counts_down_then_fills_or_expires() -> None:
    # expire_bars 3: live on t=1, 2, 3; bars_left 3 -> 2 -> 1 -> expired
    m = placed(EnterLong(1.0, price=98.0, expire_bars=3))
    lefts = []
    for t in (1, 2):
        m.begin_bar(bar(t, *QUIET))
        assert m.pending_order is not None
        lefts.append(m.pending_order.bars_left)
    assert lefts == [2, 1]
    m.begin_bar(bar(3, *QUIET))
    assert m.order_expired and m.pending_order is None
    m2 = placed(EnterLong(1.0, price=98.0, expire_bars=3))
    m2.begin_bar(bar(1, *QUIET))
    m2.begin_bar(bar(2, *QUIET))
    m2.begin_bar(bar(3, 99.0, 99.5, 97.0, 98.5))  # the third bar reaches 98
    assert m2.position is not None and m2.position.entry_time == 3 * MIN


def test_good_till_cancelled() -> None:
    m = placed(EnterLong(1.0, price=98.0, expire_bars=0))
    assert m.pending_order is not None and m.pending_order.bars_left is None
    for t in range(1, 60):
        m.begin_bar(bar(t, *QUIET))
    assert m.pending_order is not None and not m.order_expired
    assert m.execute(CancelAnalysis(), bar(59, *QUIET)) is None
    assert now(m) == (State.IDLE, None)


def test_a_new_entry_replaces_the_waiting_one_and_a_refused_one_does_not() -> None:
    m = placed(EnterLong(1.0, price=98.0))
    m.execute(EnterLong(1.0, price=97.0), FLAT)
    assert m.pending_order is not None and m.pending_order.price == 97.0
    refuse(m, EnterLong(1.0, price=101.0), "price")  # above the close: refused, 97 stays
    assert m.pending_order.price == 97.0
    m.execute(EnterShort(1.0), FLAT)  # a market order at the close replaces it too
    assert now(m)[1] is None and m.position is not None


def test_a_waiting_order_refuses_a_bar_of_another_symbol() -> None:
    m = placed(EnterLong(1.0, price=98.0))
    with pytest.raises(MarketDataError, match="'symbol' = 'ETHUSDT'"):
        m.begin_bar(bar(1, 97.0, 98.0, 96.0, 97.0, symbol="ETHUSDT"))
    assert m.pending_order is not None


# -- stop entries ----------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "level", "b", "fill"), [
    (EnterLong, 103.0, bar(1, 101.0, 104.0, 100.5, 103.5), 103.0 * 1.005),  # 103.515
    (EnterLong, 103.0, bar(1, 105.0, 106.0, 104.0, 105.5), 105.0 * 1.005),  # gap: 105.525
    (EnterShort, 97.0, bar(1, 99.0, 99.5, 96.0, 96.5), 97.0 * 0.995),       # 96.515
    (EnterShort, 97.0, bar(1, 95.0, 96.0, 94.0, 95.5), 95.0 * 0.995),       # gap: 94.525
])
def test_stop_entry_fills_at_its_level_or_the_gapped_open_slipped(cls: Any, level: float,
                                                                  b: Bar, fill: float) -> None:
    m = placed(cls(1.0, stop_price=level), slip=50.0)
    assert m.pending_order is not None and m.pending_order.kind is OrderKind.STOP
    m.begin_bar(b)
    assert m.position is not None and m.position.entry_price == pytest.approx(fill)


def test_stop_entry_not_reached_expires() -> None:
    m = placed(EnterLong(1.0, stop_price=103.0))
    m.begin_bar(bar(1, 101.0, 102.99, 100.0, 102.0))
    assert m.position is None and m.order_expired


# -- the fill bar: when do the entry's stop and target apply? ---------------------------


def test_long_limit_filled_inside_the_bar_is_protected_from_the_next_bar() -> None:
    # fill 98 inside (100, 100, 94, 96): did the low 94 come before or after? Unknown,
    # so the stop 95 waits for t=2: fill 95, pnl = (95-98) - 0.098 - 0.095 = -3.193
    m = placed(EnterLong(1.0, price=98.0, stop_loss=95.0, take_profit=99.5))
    assert m.begin_bar(bar(1, 100.0, 100.0, 94.0, 96.0)) is None
    assert m.position is not None and m.position.bars_held == 0
    trade = m.begin_bar(bar(2, 96.0, 97.0, 94.5, 95.5))
    assert trade is not None and trade.exit_reason is ExitReason.STOP_LOSS
    assert trade.pnl == pytest.approx(-3.193, abs=1e-9)


def test_long_limit_gapped_through_is_protected_in_the_same_bar() -> None:
    # opens at 97 (below the limit 98): filled at the open, then the low 94 <= stop 95:
    # pnl = (95-97) - 0.097 - 0.095 = -2.192
    m = placed(EnterLong(1.0, price=98.0, stop_loss=95.0))
    trade = m.begin_bar(bar(1, 97.0, 97.5, 94.0, 96.0))
    assert trade is not None and trade.exit_reason is ExitReason.STOP_LOSS
    assert (trade.entry_price, trade.exit_price) == (97.0, 95.0)
    assert trade.pnl == pytest.approx(-2.192, abs=1e-9)
    assert m.state is State.IDLE


def test_long_limit_gapped_through_its_stop_too_round_trips_at_the_open() -> None:
    # opens at 94, below limit 98 and stop 95: entry 94, stop at the open 94:
    # pnl = 0 - 0.094 - 0.094 = -0.188
    m = placed(EnterLong(1.0, price=98.0, stop_loss=95.0))
    trade = m.begin_bar(bar(1, 94.0, 96.0, 93.0, 95.0))
    assert trade is not None and (trade.entry_price, trade.exit_price) == (94.0, 94.0)
    assert trade.pnl == pytest.approx(-0.188, abs=1e-9)


def test_short_limit_gapped_through_is_protected_in_the_same_bar() -> None:
    # opens at 103 (above the limit 102): entry 103, the high 106 >= stop 105:
    # pnl = (103-105) - 0.103 - 0.105 = -2.208
    m = placed(EnterShort(1.0, price=102.0, stop_loss=105.0))
    trade = m.begin_bar(bar(1, 103.0, 106.0, 102.5, 104.0))
    assert trade is not None and trade.exit_reason is ExitReason.STOP_LOSS
    assert trade.pnl == pytest.approx(-2.208, abs=1e-9)


def test_short_limit_filled_inside_the_bar_is_protected_from_the_next_bar() -> None:
    m = placed(EnterShort(1.0, price=102.0, stop_loss=105.0))
    assert m.begin_bar(bar(1, 100.0, 106.0, 99.0, 104.0)) is None  # fill 102, high 106 later?
    assert m.position is not None and m.position.entry_price == 102.0


def test_target_in_the_fill_bar_follows_the_same_rule() -> None:
    # gapped: opens 97 below limit 98, high 101.5 >= target 101: pnl = 4 - 0.097 - 0.101 = 3.802
    m = placed(EnterLong(1.0, price=98.0, take_profit=101.0))
    trade = m.begin_bar(bar(1, 97.0, 101.5, 96.5, 100.0))
    assert trade is not None and trade.exit_reason is ExitReason.TAKE_PROFIT
    assert trade.pnl == pytest.approx(3.802, abs=1e-9)
    # filled inside at 98: the high 102 is not trusted to come after the fill
    m = placed(EnterLong(1.0, price=98.0, take_profit=101.0))
    assert m.begin_bar(bar(1, 100.0, 102.0, 97.5, 101.0)) is None
    assert m.position is not None


def test_stop_entry_gapped_above_is_protected_in_the_same_bar() -> None:
    # buy stop 103 gapped: entry at the open 104, the low 100.5 <= stop_loss 101:
    # pnl = (101-104) - 0.104 - 0.101 = -3.205
    m = placed(EnterLong(1.0, stop_price=103.0, stop_loss=101.0))
    trade = m.begin_bar(bar(1, 104.0, 104.5, 100.5, 101.5))
    assert trade is not None and trade.pnl == pytest.approx(-3.205, abs=1e-9)


# -- exit orders -----------------------------------------------------------------------


def long_at_100(stop: float | None = None, target: float | None = None) -> StateMachine:
    """qty 2 at the close 100, entry fee 0.2."""
    return placed(EnterLong(2.0, stop_loss=stop, take_profit=target))


B1 = bar(1, 100.0, 104.0, 99.0, 103.0)  # the bar the exit order is decided on (close 103)


def test_long_exit_limit_fills_at_its_price_from_the_next_bar() -> None:
    # sell limit 105 filled at t=2 (high 105.5): pnl = 10 - 0.2 - 0.21 = 9.59
    m = long_at_100()
    m.begin_bar(B1)
    assert m.execute(Exit(price=105.0, reason="target"), B1) is None
    assert m.pending_order is not None and m.state is State.IN_POSITION
    trade = m.begin_bar(bar(2, 103.0, 105.5, 102.0, 104.0))
    assert trade is not None and trade.exit_price == 105.0
    assert trade.exit_reason is ExitReason.STRATEGY and m.history[-1].note == "target"
    assert trade.pnl == pytest.approx(9.59, abs=1e-9)


def test_long_exit_limit_gap_fills_at_the_better_open() -> None:
    # opens 106 above the limit 105: pnl = 12 - 0.2 - 0.212 = 11.588
    m = long_at_100()
    m.execute(Exit(price=105.0), B1)
    trade = m.begin_bar(bar(2, 106.0, 107.0, 105.5, 106.5))
    assert trade is not None and trade.exit_price == 106.0
    assert trade.pnl == pytest.approx(11.588, abs=1e-9)


def test_short_exit_limit() -> None:
    # short 3 at 100 (fee 0.3); buy limit 96 decided at close 98, t=2 low 95.5:
    # pnl = (100-96)*3 - 0.3 - 0.288 = 11.412
    m = placed(EnterShort(3.0))
    b1 = bar(1, 99.0, 100.0, 97.0, 98.0)
    m.execute(Exit(price=96.0), b1)
    trade = m.begin_bar(bar(2, 97.0, 97.5, 95.5, 96.5))
    assert trade is not None and trade.exit_price == 96.0
    assert trade.pnl == pytest.approx(11.412, abs=1e-9)


def test_exit_limit_and_take_profit_the_nearer_fills() -> None:
    m = long_at_100(target=110.0)
    m.execute(Exit(price=106.0), B1)
    trade = m.begin_bar(bar(2, 104.0, 111.0, 103.5, 108.0))
    assert trade is not None and (trade.exit_price, trade.exit_reason) == (
        106.0, ExitReason.STRATEGY)
    m = long_at_100(target=110.0)
    m.execute(Exit(price=112.0), B1)
    trade = m.begin_bar(bar(2, 104.0, 113.0, 103.5, 108.0))
    assert trade is not None and (trade.exit_price, trade.exit_reason) == (
        110.0, ExitReason.TAKE_PROFIT)


def test_exit_limit_loses_to_the_stop_in_the_same_bar() -> None:
    # both 95 and 105 inside (100, 106, 94, 100): the stop wins (conservative), the order ends
    m = long_at_100(stop=95.0)
    m.execute(Exit(price=105.0), B1)
    trade = m.begin_bar(bar(2, 100.0, 106.0, 94.0, 100.0))
    assert trade is not None and trade.exit_reason is ExitReason.STOP_LOSS
    assert m.pending_order is None


def test_exit_limit_expires_and_the_position_stays() -> None:
    m = long_at_100()
    m.execute(Exit(price=105.0), B1)
    assert m.begin_bar(bar(2, 103.0, 104.9, 102.0, 104.0)) is None
    assert m.order_expired and m.pending_order is None and m.state is State.IN_POSITION


# -- bars_held -------------------------------------------------------------------------


def test_bars_held_counts_bars_after_the_fill_bar() -> None:
    m = long_at_100()  # filled at t=0's close
    for t in (1, 2, 3):
        m.begin_bar(bar(t, *QUIET))
    assert m.position is not None and m.position.bars_held == 3
    m = placed(EnterLong(1.0, price=99.0))
    m.begin_bar(bar(1, 100.0, 100.5, 98.5, 100.0))  # filled inside t=1
    assert m.position is not None and m.position.bars_held == 0
    m.begin_bar(bar(2, *QUIET))
    assert m.position.bars_held == 1


# -- sizing ----------------------------------------------------------------------------


def test_size_spends_that_fraction_of_equity_fee_included() -> None:
    # q = 0.5 * 10000 / (100 + 0.1) = 49.95004995...; cost 4995.005 + fee 4.995005 = 5000
    m = placed(EnterLong(size=0.5))
    pos = m.position
    assert pos is not None and pos.quantity == pytest.approx(5000.0 / 100.1, rel=1e-15)
    assert pos.quantity * 100.0 + pos.entry_fee == pytest.approx(5000.0, rel=1e-12)


def test_size_one_is_all_in_and_accepted() -> None:
    m = placed(EnterShort(size=1.0))
    assert m.position is not None
    assert m.position.quantity == pytest.approx(10_000.0 / 100.1, rel=1e-15)


def test_size_uses_current_equity_and_the_fill_price() -> None:
    # fee 0: trade 1 buys 10 at 100, sells at 110: +100, equity 10,100.
    # a limit size 0.5 fills at 101: q = 0.5 * 10100 / 101 = 50
    m = StateMachine(costs=Costs(fee_bps=0.0))
    m.begin_analysis({}, FLAT)
    m.execute(EnterLong(10.0), FLAT)
    m.execute(Exit(), bar(1, 110.0, 110.0, 110.0, 110.0))
    b = bar(2, 102.0, 102.5, 101.5, 102.0)
    m.begin_analysis({}, b)
    m.execute(EnterLong(size=0.5, price=101.0), b)
    m.begin_bar(bar(3, 101.5, 102.0, 100.5, 101.0))
    assert m.position is not None and m.position.quantity == pytest.approx(50.0, rel=1e-15)


def test_risk_loses_that_fraction_when_the_stop_fills() -> None:
    # long, stop 95, fill 100: loss per unit = 5 + 0.1 + 0.095 = 5.195;
    # q = 0.01 * 10000 / 5.195 = 19.2493; the stop fill books pnl = -100
    m = placed(EnterLong(risk=0.01, stop_loss=95.0))
    assert m.position is not None
    assert m.position.quantity == pytest.approx(100.0 / 5.195, rel=1e-12)
    trade = m.begin_bar(bar(1, 96.0, 96.5, 94.0, 95.0))
    assert trade is not None and trade.pnl == pytest.approx(-100.0, rel=1e-12)


def test_risk_short_with_slippage() -> None:
    # 50 bps: fill 99.5; stop 105 fills at 105 * 1.005 = 105.525; loss per unit =
    # 6.025 + 0.0995 + 0.105525 = 6.230025; q = 100 / 6.230025; the stop books -100
    m = placed(EnterShort(risk=0.01, stop_loss=105.0), slip=50.0)
    assert m.position is not None
    assert m.position.quantity == pytest.approx(100.0 / 6.230025, rel=1e-12)
    trade = m.begin_bar(bar(1, 104.0, 106.0, 103.0, 105.0))
    assert trade is not None and trade.pnl == pytest.approx(-100.0, rel=1e-12)


def test_risk_is_sized_at_the_fill_of_a_waiting_order() -> None:
    # limit 98 filled inside t=1: loss per unit = 3 + 0.098 + 0.095 = 3.193
    m = placed(EnterLong(risk=0.01, price=98.0, stop_loss=95.0))
    m.begin_bar(bar(1, 99.0, 99.5, 97.5, 98.5))
    assert m.position is not None
    assert m.position.quantity == pytest.approx(100.0 / 3.193, rel=1e-12)


def test_risk_order_gapped_beyond_its_stop_is_refused_at_the_fill() -> None:
    m = placed(EnterLong(risk=0.01, price=98.0, stop_loss=95.0))
    assert m.begin_bar(bar(1, 94.0, 96.0, 93.0, 95.0)) is None
    assert m.position is None and m.pending_order is None and m.state is State.ANALYZING
    assert m.order_refused is not None and "stop_loss" in m.order_refused
    assert "94.0" in m.order_refused and not m.order_expired


# -- the cash check --------------------------------------------------------------------


@pytest.mark.parametrize("cls", [EnterLong, EnterShort])
def test_an_entry_costing_more_than_equity_is_refused(cls: Any) -> None:
    # 99.95 at 100: cost 9995 + fee 9.995 = 10004.995 > 10000
    err = refuse(machine(), cls(99.95), "quantity")
    assert "cost 9995.00" in err and "fee 9.99" in err and "10000.00" in err
    # 99.9: 9990 + 9.99 = 9999.99 <= 10000: accepted
    assert placed(cls(99.9)).position is not None


def test_leverage_raises_the_limit() -> None:
    # 150 at 100: 15000 + 15 = 15015 <= 10000 x 2
    assert placed(EnterLong(150.0), leverage=2.0).position is not None
    err = refuse(machine(leverage=2.0), EnterLong(200.0), "quantity")  # 20020 > 20000
    assert "leverage 2" in err and "20000.00" in err


def test_cash_is_checked_again_at_the_fill() -> None:
    # buy stop 103, qty 95: at 103 cost 9785 + 9.785 passes; the bar gaps to 106:
    # 10070 + 10.07 = 10080.07 > 10000, refused at the fill
    m = placed(EnterLong(95.0, stop_price=103.0))
    assert m.begin_bar(bar(1, 106.0, 107.0, 105.0, 106.5)) is None
    assert m.position is None and m.order_refused is not None
    assert "10080.07" in m.order_refused


def test_cash_option_sets_the_starting_equity() -> None:
    m = placed(EnterLong(size=1.0), cash=500.0)
    # q = 500/100.1; fee = 0.1 * q = 50/100.1 = 0.4995005: equity at the close 100 = 500 - fee
    assert m.account.starting_equity == 500.0
    assert m.mark(FLAT) == pytest.approx(500.0 - 50.0 / 100.1, rel=1e-12)


# -- bad input: each refused with action, field, value and state --------------------------


@pytest.mark.parametrize("size", [0.0, -0.1, 1.5])
def test_size_out_of_range(size: float) -> None:
    assert "0 < size <= 1" in refuse(machine(), EnterLong(size=size), "size")


@pytest.mark.parametrize("risk", [0.0, 1.01])
def test_risk_out_of_range(risk: float) -> None:
    refuse(machine(), EnterLong(risk=risk, stop_loss=95.0), "risk")


def test_risk_without_stop_loss() -> None:
    assert "needs a stop_loss" in refuse(machine(), EnterShort(risk=0.01), "risk")


def test_no_sizing_field() -> None:
    assert "exactly one of quantity" in refuse(machine(), EnterShort(), "quantity")


def test_two_sizing_fields() -> None:
    assert "combined with 'quantity'" in refuse(machine(), EnterLong(1.0, size=0.5), "size")


def test_expire_bars_negative() -> None:
    refuse(machine(), EnterLong(1.0, price=98.0, expire_bars=-1), "expire_bars")


def test_expire_bars_on_a_market_order() -> None:
    refuse(machine(), EnterLong(1.0, expire_bars=2), "expire_bars")


def test_limit_and_stop_price_together() -> None:
    err = refuse(machine(), EnterLong(1.0, price=99.0, stop_price=101.0), "stop_price")
    assert "stop-limit orders are not supported" in err


@pytest.mark.parametrize(("action", "field"), [
    (EnterLong(1.0, price=100.5), "price"),         # a buy limit above the close
    (EnterShort(1.0, price=99.5), "price"),         # a sell limit below the close
    (EnterLong(1.0, stop_price=99.5), "stop_price"),   # a buy stop below the close
    (EnterShort(1.0, stop_price=100.5), "stop_price"),  # a sell stop above the close
])
def test_order_price_on_the_wrong_side_of_the_close(action: Any, field: str) -> None:
    assert "market order in disguise" in refuse(machine(), action, field)


@pytest.mark.parametrize(("cls", "price"), [(EnterLong, 102.9), (EnterShort, 103.1)])
def test_exit_limit_on_the_wrong_side_of_the_close(cls: Any, price: float) -> None:
    m = placed(cls(1.0))
    assert "market order in disguise" in refuse(m, Exit(price=price), "price", B1)


@pytest.mark.parametrize("price", [0.0, -1.0, float("inf")])
def test_order_price_must_be_positive_and_finite(price: float) -> None:
    refuse(machine(), EnterShort(1.0, price=price), "price")


def test_levels_are_checked_against_the_limit() -> None:
    # a stop 98.5 is below the close but above the limit 98: refused
    refuse(machine(), EnterLong(1.0, price=98.0, stop_loss=98.5), "stop_loss")


@pytest.mark.parametrize(("fields", "field", "text"), [
    ({"action": "enter_long", "sise": 0.5}, "sise", "did you mean 'size'?"),
    ({"action": "enter_long", "quantity": 1, "stop_prce": 101}, "stop_prce",
     "did you mean 'stop_price'?"),
    ({"action": "enter_long", "quantity": 1, "expire_bar": 2}, "expire_bar",
     "did you mean 'expire_bars'?"),
    ({"action": "enter_short", "risk": "1%"}, "risk", "must be a number"),
    ({"action": "enter_long", "quantity": 1, "price": 99, "expire_bars": 2.5}, "expire_bars",
     "must be a whole number"),
    ({"action": "exit", "stop_price": 90}, "stop_price", "not a field of 'exit'"),
])
def test_new_fields_are_type_checked(fields: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(ActionError) as info:
        parse_action(fields, "analyzing")
    assert info.value.field == field and text in str(info.value)
    assert str(info.value).endswith("(state analyzing)")


def test_expire_bars_parses_to_an_int() -> None:
    action = parse_action({"action": "exit", "price": 3, "expire_bars": 4.0})
    assert action == Exit(price=3.0, expire_bars=4) and type(action.expire_bars) is int


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"fill": "open"}, "fill"), ({"fill": 1}, "fill"), ({"cash": 0.0}, "cash"),
    ({"cash": float("inf")}, "cash"), ({"cash": "1000"}, "cash"),
    ({"leverage": 0.5}, "leverage"), ({"leverage": 101.0}, "leverage"),
    ({"leverage": True}, "leverage"),
])
def test_bad_execution_settings(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigError, match=f"execution: {name} = "):
        Execution(**kwargs)


def test_execution_defaults_are_todays_behaviour() -> None:
    e = Execution()
    assert (e.fill, e.cash, e.leverage) == (FillMode.CLOSE, 10_000.0, None)
    assert Execution(fill="next-open").fill is FillMode.NEXT_OPEN  # type: ignore[arg-type]
    # without a leverage there is no cash check: 1 unit at 42,000 with 10,000 of cash
    m = StateMachine()
    b = bar(0, 42_000.0, 42_100.0, 41_900.0, 42_000.0)
    m.begin_analysis({}, b)
    m.execute(EnterLong(1.0), b)
    assert m.position is not None and DEFAULT_LEVERAGE == 1.0
