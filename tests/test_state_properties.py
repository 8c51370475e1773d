"""Stateful property test of the StateMachine over random bars and strategy actions.

Each step is one bar as the runner plays it: begin_bar (waiting orders, then
auto-exit), one strategy result (nothing, a detect_opportunity table or an
action table), mark. The test keeps its own reference of what must happen,
written independently of the engine:

* validity of an action (state, sizing, order prices against the close,
  expiry, sides of the levels against the order's reference price, the cash
  check);
* fills of waiting orders and auto-exits, computed on prices mirrored by the
  side (x -> d*x) so that shorts reuse the long rule (the engine has two
  explicit branches); the same-bar protection of an entry filled at the open;
* quantities from the sizing formulas and trade P&L from the fee and slippage
  formulas of docs/design.md §4; bars_held.

Invariants: state, position and waiting order agree; a refused action changes
nothing; realized P&L = sum of closed trades; fees paid = sum of trade fees +
the open entry fee; equity = start + realized + unrealized; history <= 100.
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
    Execution,
    ExitReason,
    FillMode,
    Position,
    Side,
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
              "take_profit": LEVEL, "size": st.floats(-0.2, 1.2), "risk": st.floats(-0.01, 0.05),
              "stop_price": LEVEL, "expire_bars": st.integers(-1, 3)},
)
RESULT = st.one_of(st.none(),
                   st.dictionaries(st.sampled_from(["a", "b"]),
                                   st.one_of(st.integers(), st.floats(), st.text(max_size=3),
                                             st.booleans(), st.lists(st.integers(), max_size=1)),
                                   max_size=2).map(lambda d: ("detect", d)),
                   ACTION.map(lambda d: ("action", d)))
PRICE_FIELDS = ("price", "stop_loss", "take_profit", "stop_price")
FIELDS = {"enter_long": {"quantity", "price", "stop_loss", "take_profit", "size", "risk",
                         "stop_price", "expire_bars"},
          "exit": {"price", "expire_bars"}, "update_stop_loss": {"stop_loss"},
          "update_take_profit": {"take_profit"}, "cancel_analysis": set()}
FIELDS["enter_short"] = FIELDS["enter_long"]


def mirrored_exit(pos: Position, bar: Bar, slip: float,
                  limit: float | None = None) -> tuple[float, ExitReason] | None:
    """Reference auto-exit: mirror prices by direction, then apply the long rule.

    ``limit``: a waiting exit limit, a second target; the nearer of the two fills
    and a fill at or beyond the take-profit is the take-profit.
    """
    d = pos.direction
    o = d * bar.open
    lo = min(d * bar.high, d * bar.low)
    hi = max(d * bar.high, d * bar.low)
    stop = None if pos.stop_loss is None else d * pos.stop_loss
    target = None if pos.take_profit is None else d * pos.take_profit
    nearer = target
    if limit is not None:
        nearer = d * limit if target is None else min(target, d * limit)
    events: list[tuple[int, float]] = []  # (priority, mirrored fill)
    if stop is not None and o <= stop:
        events.append((0, o))
    if nearer is not None and o >= nearer:
        events.append((1, o))
    if stop is not None and lo <= stop:
        events.append((2, stop))
    if nearer is not None and hi >= nearer:
        events.append((3, nearer))
    if not events:
        return None
    priority, fill = min(events, key=lambda e: e[0])
    price = d * fill
    if priority in (0, 2):
        return price * (1.0 - d * slip), ExitReason.STOP_LOSS
    if target is not None and fill >= target:
        return price, ExitReason.TAKE_PROFIT
    return price, ExitReason.STRATEGY


def mirrored_entry(kind: str, d: float, level: float | None, bar: Bar,
                   slip: float) -> tuple[float, bool] | None:
    """Reference fill of a waiting entry: (price, at the open) or None."""
    o = d * bar.open
    lo = min(d * bar.high, d * bar.low)
    hi = max(d * bar.high, d * bar.low)
    if kind == "market" or level is None:
        return bar.open * (1 + d * slip), True
    lv = d * level
    if kind == "limit":
        if o <= lv:
            return bar.open, True
        return (level, False) if lo <= lv else None
    if o >= lv:
        return bar.open * (1 + d * slip), True
    return (level * (1 + d * slip), False) if hi >= lv else None


def entry_reference(fields: dict[str, Any], close: float, fee: float, slip: float,
                    equity: float, leverage: float | None) -> dict[str, Any] | None:
    """Reference check of an entry: None if refused, else its order (kind, level, bars
    left, reference price, quantity); ``"either"`` in it when the cash check is too close
    to call across two ways of rounding."""
    d = 1.0 if fields["action"] == "enter_long" else -1.0
    sizing = [k for k in ("quantity", "size", "risk") if k in fields]
    if len(sizing) != 1:
        return None
    key, value = sizing[0], fields[sizing[0]]
    if not value > 0 or (key != "quantity" and value > 1) or (
            key == "risk" and "stop_loss" not in fields):
        return None
    price, stop_price, expire = (fields.get(k) for k in ("price", "stop_price", "expire_bars"))
    priced = price is not None or stop_price is not None
    if (price is not None and stop_price is not None) or (
            expire is not None and (not priced or expire < 0)):
        return None
    if price is not None:
        if d * price > d * close:
            return None
        kind, level, ref = "limit", price, price
    elif stop_price is not None:
        if d * stop_price < d * close:
            return None
        kind, level, ref = "stop", stop_price, stop_price * (1 + d * slip)
    else:
        kind, level, ref = "market", None, close * (1 + d * slip)
    stop, target = fields.get("stop_loss"), fields.get("take_profit")
    if (stop is not None and not d * stop < d * ref) or (
            target is not None and not d * target > d * ref):
        return None
    left = 1 if expire is None else (None if expire == 0 else expire)
    order = {"kind": kind, "d": d, "level": level, "left": left, "fields": fields}
    sized = size_reference(order, ref, fee, slip, equity, leverage)
    if sized is None:
        return None
    order["ref"], order["quantity"], order["either"] = ref, *sized
    return order


def size_reference(order: dict[str, Any], fill: float, fee: float, slip: float,
                   equity: float, leverage: float | None) -> tuple[float, bool] | None:
    """(quantity, too close to call) of an entry filling at ``fill``, None if refused."""
    fields, d = order["fields"], order["d"]
    if "quantity" in fields:
        q = fields["quantity"]
    elif "size" in fields:
        return fields["size"] * equity / (fill * (1 + fee)), False
    else:
        stop = fields["stop_loss"]
        if d * (fill - stop) <= 0:
            return None
        stop_fill = stop * (1 - d * slip)
        q = fields["risk"] * equity / (d * (fill - stop_fill) + fee * (fill + stop_fill))
    if leverage is None:
        return q, False
    need, limit = q * fill * (1 + fee), equity * leverage
    if abs(need - limit) <= 1e-9 * limit:
        return q, True
    return (q, False) if need <= limit else None


class MachineRun(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = StateMachine()
        self.close = 100.0
        self.t = 0
        self.order: dict[str, Any] | None = None  # the reference's waiting order
        self.held = 0

    @initialize(fee=st.sampled_from([0.0, 10.0, 25.0]), slip=st.sampled_from([0.0, 5.0, 50.0]),
                clear=st.booleans(), fill=st.sampled_from(["close", "next-open"]),
                leverage=st.sampled_from([None, 1.0, 2.0]))
    def configure(self, fee: float, slip: float, clear: bool, fill: str,
                  leverage: float | None) -> None:
        self.m = StateMachine(costs=Costs(fee, slip), clear_context_on_exit=clear,
                              execution=Execution(fill=FillMode(fill), cash=5_000.0,
                                                  leverage=leverage))

    @property
    def fee(self) -> float:
        return self.m.costs.fee_bps / 1e4

    @property
    def slip(self) -> float:
        return self.m.costs.slippage_bps / 1e4

    @rule(gap=st.floats(-0.06, 0.06), move=st.floats(-0.06, 0.06), up=st.floats(0.0, 0.04),
          down=st.floats(0.0, 0.04), result=RESULT)
    def bar_step(self, gap: float, move: float, up: float, down: float, result: Any) -> None:
        o = self.close * (1 + gap)
        c = o * (1 + move)
        self.t += 1
        bar = Bar("SYM", self.t * 60_000, o, max(o, c) * (1 + up), min(o, c) * (1 - down), c, 1.0)
        self.close = c
        self.check_begin_bar(bar)
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
        entry: dict[str, Any] = {"action": "enter_long" if long else "enter_short",
                                 "stop_loss": 1 - d * dist, "take_profit": 1 + d * dist}
        entry.update([{"quantity": 1.0}, {"quantity": 2.0, "price": 1 - d * dist / 2},
                      {"quantity": 3.0, "stop_price": 1 + d * dist / 2, "expire_bars": 2},
                      {"size": 0.3, "price": 1 - d * dist / 4, "expire_bars": 0},
                      {"risk": 0.01}, {"size": 0.5}][choice])
        by_state: dict[State, Any] = {
            State.IDLE: ("detect", {"side": "long" if long else "short"}),
            State.ANALYZING: None if choice == 5 and self.order else ("action", entry),
        }
        position = self.m.position
        if position is not None:
            pd = position.direction
            by_state[State.IN_POSITION] = [
                None, None, ("action", {"action": "exit"}),
                ("action", {"action": "update_stop_loss", "stop_loss": 1 - pd * dist}),
                ("action", {"action": "update_take_profit", "take_profit": 1 + pd * dist}),
                ("action", {"action": "exit", "price": 1 + pd * dist / 2}),
            ][choice]
        self.bar_step(gap, move, up, down, by_state[self.m.state])

    # -- the start of the bar -----------------------------------------------------

    def check_begin_bar(self, bar: Bar) -> None:
        order, pos = self.order, self.m.position
        if order is not None and order["entry"]:
            self.check_entry_order(order, bar)
            return
        if pos is None:
            assert self.m.begin_bar(bar) is None
            return
        self.held += 1
        if order is not None and order["kind"] == "market":
            expected: tuple[float, ExitReason] | None = (
                bar.open * (1 - pos.direction * self.slip), ExitReason.STRATEGY)
        else:
            limit = None if order is None else order["level"]
            expected = mirrored_exit(pos, bar, self.slip, limit)
        trade = self.m.begin_bar(bar)
        if expected is None and order is not None:
            self.age(order)
        self.check_exit(pos, trade, expected)

    def check_entry_order(self, order: dict[str, Any], bar: Bar) -> None:
        fill = mirrored_entry(order["kind"], order["d"], order["level"], bar, self.slip)
        if fill is None:
            assert self.m.begin_bar(bar) is None and self.m.position is None
            self.age(order)
            return
        self.order = None
        price, at_open = fill
        a = self.m.account
        sized = size_reference(order, price, self.fee, self.slip,
                               a.starting_equity + a.realized_pnl, self.m.execution.leverage)
        trade = self.m.begin_bar(bar)
        if sized is None:
            event("entry refused at the fill")
            assert self.m.order_refused is not None
            assert self.m.position is None and trade is None
            return
        if sized[1] and self.m.order_refused is not None:
            return  # the cash check was too close to call: a refusal is right too
        assert self.m.order_refused is None
        event(f"entry order {order['kind']} filled" + (" at the open" if at_open else ""))
        fields = order["fields"]
        entered = self.m.history[-1 if trade is None else -2]
        assert entered.to_state is State.IN_POSITION and entered.timestamp == bar.timestamp
        side = Side.LONG if fields["action"] == "enter_long" else Side.SHORT
        ref = Position("SYM", side, sized[0], price, bar.timestamp, self.fee * price * sized[0],
                       fields.get("stop_loss"), fields.get("take_profit"))
        self.held = 0
        expected = mirrored_exit(ref, bar, self.slip) if at_open else None
        if trade is None:
            got = self.m.position
            assert got is not None
            assert math.isclose(got.entry_price, price, rel_tol=1e-12)
            assert math.isclose(got.quantity, ref.quantity, rel_tol=1e-9)
        self.check_exit(ref, trade, expected)

    def age(self, order: dict[str, Any]) -> None:
        left = order["left"]
        if left is not None and left <= 1:
            self.order = None
            event("order expired")
            assert self.m.order_expired and self.m.pending_order is None
        elif left is not None:
            order["left"] = left - 1

    def check_exit(self, pos: Position, trade: ClosedTrade | None,
                   expected: tuple[float, ExitReason] | None) -> None:
        if expected is None:
            assert trade is None
            if self.m.position is not None:
                assert self.m.position.bars_held == self.held
            return
        assert trade is not None
        price, reason = expected
        event(f"exit {pos.side} {reason}")
        assert trade.exit_reason is reason
        assert math.isclose(trade.exit_price, price, rel_tol=1e-12)
        self.check_trade_pnl(pos, trade)
        assert self.m.state is State.IDLE and self.m.pending_order is None
        self.order = None

    def check_trade_pnl(self, pos: Position, trade: ClosedTrade) -> None:
        fee = self.fee
        expected = (pos.direction * (trade.exit_price - trade.entry_price) * trade.quantity
                    - fee * trade.entry_price * trade.quantity
                    - fee * trade.exit_price * trade.quantity)
        assert math.isclose(trade.entry_price, pos.entry_price, rel_tol=1e-12)
        assert math.isclose(trade.quantity, pos.quantity, rel_tol=1e-9)
        assert math.isclose(trade.pnl, expected, rel_tol=1e-9, abs_tol=1e-9)

    # -- the strategy's result ----------------------------------------------------

    def apply(self, result: tuple[str, dict[str, Any]], bar: Bar) -> None:
        kind, fields = result
        before = self.snapshot()
        if kind == "detect":
            valid = self.m.state is State.IDLE and all(
                not isinstance(v, list) for v in fields.values())
            self.expect(valid, before, lambda: self.m.begin_analysis(fields, bar))
            return
        fields = {k: (v * bar.close if k in PRICE_FIELDS and v is not None else v)
                  for k, v in fields.items()}
        fields = {k: v for k, v in fields.items() if v is not None}
        try:
            action = parse_action(fields)
        except StrategyError:
            name = fields["action"]
            required = {"update_stop_loss": "stop_loss", "update_take_profit": "take_profit"}
            assert (name in required and required[name] not in fields) or (
                set(fields) - {"action"} - FIELDS[name])
            assert self.snapshot() == before
            return
        pos = self.m.position
        called, order = self.reference(fields, bar)
        trade = self.expect(called, before, lambda: self.m.execute(action, bar))
        if called is None:  # too close to call: follow the engine
            event("cash check too close to call")
        valid = self.snapshot() != before if called is None else called
        if not valid:
            return
        self.after_accepted(fields, order, pos, trade, bar)

    def after_accepted(self, fields: dict[str, Any], order: dict[str, Any] | None,
                       pos: Position | None, trade: ClosedTrade | None, bar: Bar) -> None:
        name = fields["action"]
        if name == "cancel_analysis":
            self.order = None
            assert self.m.pending_order is None
        elif name in ("enter_long", "enter_short"):
            assert order is not None
            waits = order["kind"] != "market" or str(self.m.execution.fill) == "next-open"
            self.order = {**order, "entry": True} if waits else None
            if waits:
                got = self.m.pending_order
                assert got is not None and str(got.kind) == order["kind"]
                assert got.price == order["level"] and got.bars_left == order["left"]
            else:
                got_pos = self.m.position
                assert got_pos is not None and self.m.pending_order is None
                assert math.isclose(got_pos.entry_price, order["ref"], rel_tol=1e-12)
                assert math.isclose(got_pos.quantity, order["quantity"], rel_tol=1e-9)
                self.held = 0
        elif name == "exit":
            assert pos is not None
            if "price" in fields or str(self.m.execution.fill) == "next-open":
                assert trade is None and self.m.pending_order is not None
                expire = fields.get("expire_bars")
                self.order = {"entry": False, "kind": "limit" if "price" in fields else "market",
                              "level": fields.get("price"),
                              "left": 1 if expire is None else (None if expire == 0 else expire)}
                assert self.m.pending_order.bars_left == self.order["left"]
            else:
                assert trade is not None and trade.exit_reason is ExitReason.STRATEGY
                self.check_trade_pnl(pos, trade)
                assert math.isclose(trade.exit_price, bar.close * (1 - pos.direction * self.slip),
                                    rel_tol=1e-12)
                self.order = None

    def reference(self, fields: dict[str, Any], bar: Bar) -> tuple[bool | None, Any]:
        """(valid, the entry's reference order); valid None = too close to call."""
        name = fields["action"]
        allowed = {"cancel_analysis": State.ANALYZING, "enter_long": State.ANALYZING,
                   "enter_short": State.ANALYZING}.get(name, State.IN_POSITION)
        if self.m.state is not allowed:
            return False, None
        if name == "cancel_analysis":
            return True, None
        if name in ("enter_long", "enter_short"):
            a = self.m.account
            order = entry_reference(fields, bar.close, self.fee, self.slip,
                                    a.starting_equity + a.realized_pnl,
                                    self.m.execution.leverage)
            if order is None:
                return False, None
            return (None if order["either"] else True), order
        assert self.m.position is not None
        d = self.m.position.direction
        if name == "update_stop_loss":
            return bool(d * fields["stop_loss"] < d * bar.close), None
        if name == "update_take_profit":
            return bool(d * fields["take_profit"] > d * bar.close), None
        price, expire = fields.get("price"), fields.get("expire_bars")
        if expire is not None and (price is None or expire < 0):
            return False, None
        return price is None or d * price >= d * bar.close, None

    def expect(self, valid: bool | None, before: tuple[object, ...], call: Any) -> Any:
        try:
            out = call()
        except StrategyError:
            event("refused")
            assert not valid, "a valid call was refused"
            assert self.snapshot() == before, "a refused call changed the machine"
            return None
        assert valid is not False, "an invalid call was accepted"
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
        return (m.state, m.position, m.pending_order, m.context.as_dict(), m.history,
                m.transition_count, a.realized_pnl, a.fees_paid, a.trades)

    @invariant()
    def state_position_and_order_agree(self) -> None:
        m = self.m
        assert (m.state is State.IN_POSITION) == (m.position is not None)
        order = m.pending_order
        if order is not None:
            assert m.state is (State.ANALYZING if order.is_entry else State.IN_POSITION)
        assert (order is None) == (self.order is None)

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
