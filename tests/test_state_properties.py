"""Stateful property test of the StateMachine over random bars and strategy actions.

Each step is one bar as the runner plays it: auto-exit, one strategy result
(nothing, a detect_opportunity table or an action table), mark. The test keeps
its own reference of what must happen, written independently of the engine:

* validity of an action (state, quantity, price range, sides of the levels);
* auto-exit fills, computed on prices mirrored by the position's direction so
  that shorts reuse the long rule (the engine has two explicit branches);
* trade P&L from the fee and slippage formulas of docs/design.md §4.

Invariants: state and position agree; a refused action changes nothing;
realized P&L = sum of closed trades; fees paid = sum of trade fees + the open
entry fee; equity = start + realized + unrealized; history <= 100.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engine.errors import StrategyError
from engine.market import Bar
from engine.state import (
    HISTORY_LIMIT,
    ClosedTrade,
    Costs,
    ExitReason,
    Position,
    State,
    StateMachine,
    parse_action,
)

# Multipliers of the bar's close for price fields: some inside the bar, some outside,
# some on the wrong side of the entry.
LEVEL = st.one_of(st.none(), st.floats(0.85, 1.15))
ACTION = st.fixed_dictionaries(
    {"action": st.sampled_from(["cancel_analysis", "enter_long", "enter_short", "exit",
                                "update_stop_loss", "update_take_profit"])},
    optional={"quantity": st.floats(-1.0, 5.0), "price": LEVEL, "stop_loss": LEVEL,
              "take_profit": LEVEL},
)
RESULT = st.one_of(st.none(),
                   st.dictionaries(st.sampled_from(["a", "b"]),
                                   st.one_of(st.integers(), st.floats(), st.text(max_size=3),
                                             st.booleans(), st.lists(st.integers(), max_size=1)),
                                   max_size=2).map(lambda d: ("detect", d)),
                   ACTION.map(lambda d: ("action", d)))


def mirrored_exit(pos: Position, bar: Bar, slip: float) -> tuple[float, ExitReason] | None:
    """Reference auto-exit: mirror prices by direction, then apply the long rule."""
    d = pos.direction
    o = d * bar.open
    lo = min(d * bar.high, d * bar.low)
    hi = max(d * bar.high, d * bar.low)
    stop = None if pos.stop_loss is None else d * pos.stop_loss
    target = None if pos.take_profit is None else d * pos.take_profit
    events: list[tuple[int, float, ExitReason]] = []  # (priority, mirrored fill, reason)
    if stop is not None and o <= stop:
        events.append((0, o, ExitReason.STOP_LOSS))
    if target is not None and o >= target:
        events.append((1, o, ExitReason.TAKE_PROFIT))
    if stop is not None and lo <= stop:
        events.append((2, stop, ExitReason.STOP_LOSS))
    if target is not None and hi >= target:
        events.append((3, target, ExitReason.TAKE_PROFIT))
    if not events:
        return None
    _, fill, reason = min(events, key=lambda e: e[0])
    price = d * fill
    if reason is ExitReason.STOP_LOSS:
        price *= 1.0 - d * slip
    return price, reason


def action_valid(m: StateMachine, fields: dict[str, Any], bar: Bar) -> bool:
    """Reference validity of an already-parsed action table."""
    name = fields["action"]
    allowed = {"cancel_analysis": State.ANALYZING, "enter_long": State.ANALYZING,
               "enter_short": State.ANALYZING}.get(name, State.IN_POSITION)
    if m.state is not allowed:
        return False
    price = fields.get("price")
    if price is not None and not bar.low <= price <= bar.high:
        return False
    if name == "cancel_analysis":
        return True
    slip = m.costs.slippage_bps / 1e4
    if name in ("enter_long", "enter_short"):
        d = 1.0 if name == "enter_long" else -1.0
        entry = price if price is not None else bar.close * (1 + d * slip)
        stop, target = fields.get("stop_loss"), fields.get("take_profit")
        return (fields["quantity"] > 0
                and (stop is None or (stop > 0 and d * stop < d * entry))
                and (target is None or (target > 0 and d * target > d * entry)))
    assert m.position is not None
    d = m.position.direction
    if name == "update_stop_loss":
        return bool(d * fields["stop_loss"] < d * bar.close)
    if name == "update_take_profit":
        return bool(d * fields["take_profit"] > d * bar.close)
    return True


class MachineRun(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = StateMachine()
        self.close = 100.0
        self.t = 0

    @initialize(fee=st.sampled_from([0.0, 10.0, 25.0]), slip=st.sampled_from([0.0, 5.0, 50.0]),
                clear=st.booleans())
    def configure(self, fee: float, slip: float, clear: bool) -> None:
        self.m = StateMachine(costs=Costs(fee, slip), clear_context_on_exit=clear,
                              starting_equity=5_000.0)

    @rule(gap=st.floats(-0.06, 0.06), move=st.floats(-0.06, 0.06), up=st.floats(0.0, 0.04),
          down=st.floats(0.0, 0.04), result=RESULT)
    def bar_step(self, gap: float, move: float, up: float, down: float, result: Any) -> None:
        o = self.close * (1 + gap)
        c = o * (1 + move)
        self.t += 1
        bar = Bar("SYM", self.t * 60_000, o, max(o, c) * (1 + up), min(o, c) * (1 - down), c, 1.0)
        self.close = c
        self.check_auto_exit(bar)
        if result is not None:
            self.apply(result, bar)
        self.check_mark(bar)

    @rule(gap=st.floats(-0.03, 0.03), move=st.floats(-0.03, 0.03), up=st.floats(0.0, 0.02),
          down=st.floats(0.0, 0.02), long=st.booleans(), dist=st.floats(0.002, 0.04),
          choice=st.integers(0, 5))
    def sensible_step(self, gap: float, move: float, up: float, down: float, long: bool,
                      dist: float, choice: int) -> None:
        """A bar with the result a reasonable strategy would give in the current state."""
        d = 1.0 if long else -1.0
        by_state: dict[State, Any] = {
            State.IDLE: ("detect", {"side": "long" if long else "short"}),
            State.ANALYZING: ("action", {
                "action": "enter_long" if long else "enter_short", "quantity": 1.0 + choice,
                "stop_loss": 1 - d * dist, "take_profit": 1 + d * dist}),
        }
        position = self.m.position
        if position is not None:
            pd = position.direction
            by_state[State.IN_POSITION] = [
                None, None, ("action", {"action": "exit"}),
                ("action", {"action": "update_stop_loss", "stop_loss": 1 - pd * dist}),
                ("action", {"action": "update_take_profit", "take_profit": 1 + pd * dist}),
                ("action", {"action": "exit", "price": 1.0}),
            ][choice]
        self.bar_step(gap, move, up, down, by_state[self.m.state])

    def check_auto_exit(self, bar: Bar) -> None:
        pos = self.m.position
        expected = None if pos is None else mirrored_exit(pos, bar, self.m.costs.slippage_bps / 1e4)
        trade = self.m.auto_exit(bar)
        if expected is None:
            assert trade is None
            return
        assert pos is not None and trade is not None
        price, reason = expected
        event(f"auto-exit {pos.side} {reason}")
        assert trade.exit_reason is reason
        assert math.isclose(trade.exit_price, price, rel_tol=1e-12)
        self.check_trade_pnl(pos, trade)
        assert self.m.state is State.IDLE

    def check_trade_pnl(self, pos: Position, trade: ClosedTrade) -> None:
        fee = self.m.costs.fee_bps / 1e4
        expected = (pos.direction * (trade.exit_price - pos.entry_price) * pos.quantity
                    - fee * pos.entry_price * pos.quantity - fee * trade.exit_price * pos.quantity)
        assert math.isclose(trade.pnl, expected, rel_tol=1e-9, abs_tol=1e-9)

    def apply(self, result: tuple[str, dict[str, Any]], bar: Bar) -> None:
        kind, fields = result
        before = self.snapshot()
        if kind == "detect":
            valid = self.m.state is State.IDLE and all(
                not isinstance(v, list) for v in fields.values())
            self.expect(valid, before, lambda: self.m.begin_analysis(fields, bar))
            return
        fields = {k: (v * bar.close if k in ("price", "stop_loss", "take_profit")
                      and v is not None else v) for k, v in fields.items()}
        fields = {k: v for k, v in fields.items() if v is not None}
        try:
            action = parse_action(fields)
        except StrategyError:
            required = {"enter_long": "quantity", "enter_short": "quantity",
                        "update_stop_loss": "stop_loss", "update_take_profit": "take_profit"}
            allowed = {"enter_long": {"quantity", "price", "stop_loss", "take_profit"},
                       "enter_short": {"quantity", "price", "stop_loss", "take_profit"},
                       "exit": {"price"}, "update_stop_loss": {"stop_loss"},
                       "update_take_profit": {"take_profit"}}.get(fields["action"], set())
            name = fields["action"]
            assert (required.get(name, "action") not in fields and name in required) or (
                set(fields) - {"action"} - allowed)
            assert self.snapshot() == before
            return
        pos = self.m.position
        valid = action_valid(self.m, fields, bar)
        trade = self.expect(valid, before, lambda: self.m.execute(action, bar))
        if trade is not None:
            assert pos is not None and trade.exit_reason is ExitReason.STRATEGY
            self.check_trade_pnl(pos, trade)

    def expect(self, valid: bool, before: tuple[object, ...], call: Any) -> Any:
        try:
            out = call()
        except StrategyError:
            event("refused")
            assert not valid, "a valid call was refused"
            assert self.snapshot() == before, "a refused call changed the machine"
            return None
        assert valid, "an invalid call was accepted"
        event("accepted")
        return out

    def check_mark(self, bar: Bar) -> None:
        pos = self.m.position
        unrealized = 0.0 if pos is None else (
            pos.direction * (bar.close - pos.entry_price) * pos.quantity - pos.entry_fee)
        equity = self.m.mark(bar)
        a = self.m.account
        assert math.isclose(equity, a.starting_equity + a.realized_pnl + unrealized,
                            rel_tol=1e-12, abs_tol=1e-9)
        assert a.equity == equity
        assert a.max_drawdown >= 0.0 and a.peak_equity >= equity

    def snapshot(self) -> tuple[object, ...]:
        m, a = self.m, self.m.account
        return (m.state, m.position, m.context.as_dict(), m.history, m.transition_count,
                a.realized_pnl, a.fees_paid, a.trades)

    @invariant()
    def state_and_position_agree(self) -> None:
        assert (self.m.state is State.IN_POSITION) == (self.m.position is not None)

    @invariant()
    def realized_is_sum_of_trades(self) -> None:
        a = self.m.account
        assert a.realized_pnl == sum(t.pnl for t in a.trades)
        open_fee = 0.0 if self.m.position is None else self.m.position.entry_fee
        assert math.isclose(a.fees_paid, sum(t.fees for t in a.trades) + open_fee,
                            rel_tol=1e-12, abs_tol=1e-12)

    @invariant()
    def history_is_bounded_and_current(self) -> None:
        h = self.m.history
        if self.m.transition_count > HISTORY_LIMIT:
            event("history overflowed")
        assert len(h) <= HISTORY_LIMIT
        assert len(h) == min(HISTORY_LIMIT, self.m.transition_count)
        if h:
            assert h[-1].to_state is self.m.state
        assert all(a.to_state is b.from_state for a, b in pairwise(h))


MachineRun.TestCase.settings = settings(
    max_examples=60, stateful_step_count=150, deadline=None,
    suppress_health_check=[HealthCheck.large_base_example],  # long runs are the point
)
TestMachineRun = MachineRun.TestCase
