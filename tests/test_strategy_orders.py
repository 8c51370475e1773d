"""The order model as a Lua strategy sees it (docs/strategies.md "Orders"; issue 12):
``context.order``, ``context.order_expired``, ``context.order_refused``,
``context.position.bars_held``, ``market_data.index``, ``history(field, k)``, and
every kind of bad order input refused through the whole Lua path."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_strategy_support import Harness, load

from engine.indicators.api import IndicatorApi
from engine.market.window import MarketDataWindow
from engine.state import Execution, State
from engine.strategy import LuaStrategyError

#: Prints what filter_commitment and manage_position see; the entry comes from ENTRY.
SEEN = """
function detect_opportunity(md) return { go = 1 } end
function filter_commitment(md, ctx)
  local o = ctx.order
  print("filter", md.index, o and o.kind, o and o.side, o and o.price, o and o.bars_left,
        ctx.order_expired, ctx.order_refused)
  if md.index == 2 then return ENTRY end
end
function manage_position(md, ctx)
  print("manage", md.index, ctx.position.bars_held, ctx.order)
end
"""


def seen_by(tmp_path: Path, entry: str, execution: Execution | None = None,
            ) -> tuple[Harness, list[str]]:
    lines: list[str] = []
    strategy = load(tmp_path, f"ENTRY = {entry}\n" + SEEN, log=lines.append)
    return Harness(strategy, execution=execution), lines


def test_a_waiting_limit_order_is_visible_then_fills_and_bars_held_counts(
    tmp_path: Path
) -> None:
    h, lines = seen_by(tmp_path, "{ action = 'enter_long', quantity = 1, price = 95, "
                                 "expire_bars = 3 }")
    h.next(100.0)  # 1: detect -> analyzing
    h.next(100.0)  # 2: the limit is placed (95 <= close 100)
    h.next(100.0)  # 3: low 99 > 95: no fill, bars_left 3 -> 2
    h.next(100.0)  # 4: no fill, 2 -> 1
    h.next(96.0, low=94.5)  # 5: opens 96 above 95, the low reaches it: filled at 95
    h.next(96.0)  # 6
    h.next(96.0)  # 7
    assert lines == [
        "filter\t2\tnil\tnil\tnil\tnil\tnil\tnil",
        "filter\t3\tlimit\tlong\t95.0\t2\tnil\tnil",
        "filter\t4\tlimit\tlong\t95.0\t1\tnil\tnil",
        "manage\t5\t0\tnil",  # the fill bar: manage_position runs, bars_held 0
        "manage\t6\t1\tnil",
        "manage\t7\t2\tnil",
    ]
    pos = h.machine.position
    assert pos is not None and pos.entry_price == 95.0 and pos.bars_held == 2


def test_good_till_cancelled_shows_no_bars_left(tmp_path: Path) -> None:
    h, lines = seen_by(tmp_path, "{ action = 'enter_short', quantity = 1, stop_price = 90, "
                                 "expire_bars = 0 }")
    for _ in range(4):
        h.next(100.0)
    # a sell stop at 90 (below the close 100), never reached by lows of 99
    assert lines[1:] == ["filter\t3\tstop\tshort\t90.0\tnil\tnil\tnil",
                         "filter\t4\tstop\tshort\t90.0\tnil\tnil\tnil"]


def test_order_expired_is_true_on_the_expiry_bar_only(tmp_path: Path) -> None:
    h, lines = seen_by(tmp_path, "{ action = 'enter_long', quantity = 1, price = 90 }")
    for _ in range(4):
        h.next(100.0)
    # expire_bars defaults to 1: bar 3 does not reach 90, so the order ends there
    assert lines[1:] == ["filter\t3\tnil\tnil\tnil\tnil\ttrue\tnil",
                         "filter\t4\tnil\tnil\tnil\tnil\tnil\tnil"]
    assert h.machine.state is State.ANALYZING


def test_order_refused_at_the_fill_carries_the_message_for_one_bar(tmp_path: Path) -> None:
    # 98 units with a buy stop at 101: 98 x 101 = 9,898 + fee 9.90 <= 10,000 when placed;
    # bar 3 gaps to 104: 98 x 104 = 10,192 + fee 10.19 > 10,000 x leverage 1: refused
    h, lines = seen_by(tmp_path, "{ action = 'enter_long', quantity = 98, stop_price = 101 }",
                       Execution(cash=10_000.0, leverage=1.0))
    h.next(100.0)
    h.next(100.0)
    h.next(104.0, open=104.0, low=103.5, high=105.0)
    h.next(104.0)
    refused = lines[1].split("\t")  # (lines[0] is bar 2's)
    assert refused[:7] == ["filter", "3", "nil", "nil", "nil", "nil", "nil"]
    assert "cost 10192.00" in refused[7] and "more than equity 10000.00" in refused[7]
    assert lines[2] == "filter\t4\tnil\tnil\tnil\tnil\tnil\tnil"
    assert h.machine.position is None and h.machine.state is State.ANALYZING


def test_an_exit_order_waits_in_the_context_too(tmp_path: Path) -> None:
    lines: list[str] = []
    strategy = load(tmp_path, """
      function detect_opportunity() return {} end
      function filter_commitment() return { action = 'enter_long', quantity = 1 } end
      function manage_position(md, ctx)
        local o = ctx.order
        print(md.index, ctx.position.bars_held, o and o.kind, o and o.price, o and o.bars_left)
        if md.index == 3 then return { action = 'exit', price = 105, expire_bars = 2 } end
      end""", log=lines.append)
    h = Harness(strategy)
    for _ in range(5):
        h.next(100.0)
    # entered at bar 2's close (by filter_commitment: manage_position runs from bar 3);
    # the sell limit at 105 waits on bars 4 and 5, never reached, and then expires
    assert lines == ["3\t1\tnil\tnil\tnil", "4\t2\tlimit\t105.0\t1", "5\t3\tnil\tnil\tnil"]


# -- market_data.index and history(field, k) -----------------------------------


def test_index_counts_bars_from_one_and_history_reads_back(tmp_path: Path) -> None:
    lines: list[str] = []
    strategy = load(tmp_path, """
      function detect_opportunity(md)
        print(md.index, history("close", 1), history("close", 3), history("close", 4),
              history("timestamp", 1), history("high", 2), history("volume", 1))
      end""", log=lines.append)
    h = Harness(strategy)
    for close in (100.0, 101.0, 102.0, 103.0):
        h.next(close)
    # bar i is at 1.7e12 + i minutes; high = 1.01 x close; bar 4 looks at 3, 2 and 1
    assert lines[3] == (f"4\t102.0\t100.0\tnil\t{1_700_000_000_000 + 3 * 60_000}\t"
                        f"{101.0 * 1.01!r}\t10.0")
    assert lines[0] == "1\tnil\tnil\tnil\tnil\tnil\tnil"


def test_history_is_nil_beyond_a_small_window(tmp_path: Path) -> None:
    lines: list[str] = []
    strategy = load(tmp_path, """
      function detect_opportunity(md) print(history("close", 2), history("close", 3)) end""",
                    log=lines.append)
    h = Harness(strategy)
    h.window = MarketDataWindow(3)
    h.api = IndicatorApi("BTCUSDT", h.window)
    for close in (100.0, 101.0, 102.0, 103.0, 104.0):
        h.next(close)
    # the window keeps bars 3..5: two bars ago is 102, three bars ago has left it
    assert lines[-1] == "102.0\tnil"


@pytest.mark.parametrize(("call", "expected"), [
    ('history("clsoe", 1)', "field 'clsoe' is not a bar field (did you mean 'close'?)"),
    ('history("close", 0)', "k = 0 must be a whole number >= 1"),
    ('history("close", 1.5)', "k = 1.5 must be a whole number >= 1"),
    ('history("close", 0/0)', "must be a whole number >= 1"),
    ('history("close")', "k must be a whole number >= 1 (bars ago), got a nil"),
    ("history(1, 1)", "field must be a bar field name"),
    ('history(string.rep("x", 100), 1)', "got a long string"),
])
def test_bad_history_arguments_are_errors_at_the_callers_line(
    tmp_path: Path, call: str, expected: str
) -> None:
    # (not `return history(...)`: a tail call leaves no frame of the script to name)
    strategy = load(tmp_path, f"function detect_opportunity(md)\n  local x = {call}\nend")
    h = Harness(strategy)
    with pytest.raises(LuaStrategyError) as info:
        h.next()
    assert expected in str(info.value)
    assert info.value.location == "strat.lua:2"


def test_history_calls_are_charged_to_the_instruction_budget(tmp_path: Path) -> None:
    # 200 instructions a call (engine.bounds.HOST_CALL_INSTRUCTIONS): a budget of
    # 1,000,000 ends a loop of 20,000 calls (4,000,000 charged; the loop itself needs
    # well under 200,000 instructions) after about 5,000 of them
    strategy = load(tmp_path, """
      function detect_opportunity(md)
        for i = 1, 20000 do history("close", 1) end
      end""")
    h = Harness(strategy)
    with pytest.raises(LuaStrategyError) as info:
        h.next()
    assert info.value.kind == "budget"


def test_the_engine_names_are_reserved_in_the_context(tmp_path: Path) -> None:
    for name in ("order", "order_expired", "order_refused"):
        strategy = load(tmp_path, f"function detect_opportunity() return {{ {name} = 1 }} end")
        with pytest.raises(LuaStrategyError, match="reserved field"):
            Harness(strategy).next()


# -- bad order input, through the Lua path ----------------------------------------

#: (the action table, the field named, the problem's words); the close is 100.
BAD = [
    ("{ action = 'enter_long', quantity = 1, price = 101 }", "price", "101.0",
     "a buy limit above the close is a market order in disguise"),
    ("{ action = 'enter_short', quantity = 1, price = 99 }", "price", "99.0",
     "a sell limit below the close is a market order in disguise"),
    ("{ action = 'enter_long', quantity = 1, stop_price = 99 }", "stop_price", "99.0",
     "a buy stop below the close is a market order in disguise"),
    ("{ action = 'enter_long', quantity = 1, price = 99, stop_price = 101 }", "stop_price",
     "101.0", "stop-limit orders are not supported"),
    ("{ action = 'enter_long', size = 1.5 }", "size", "1.5", "0 < size <= 1"),
    ("{ action = 'enter_long', size = 0 }", "size", "0.0", "0 < size <= 1"),
    ("{ action = 'enter_long', risk = 2, stop_loss = 95 }", "risk", "2.0", "0 < risk <= 1"),
    ("{ action = 'enter_long', risk = 0.01 }", "risk", "0.01", "needs a stop_loss"),
    ("{ action = 'enter_long', quantity = 1, size = 0.5 }", "size", "0.5",
     "cannot be combined with 'quantity'"),
    ("{ action = 'enter_long', quantity = 1, price = 99, expire_bars = -1 }", "expire_bars",
     "-1", "must be >= 0"),
    ("{ action = 'enter_long', quantity = 1, expire_bars = 2 }", "expire_bars", "2",
     "applies only to orders with a price or stop_price"),
    ("{ action = 'enter_long', quantity = 1, price = 99, expire_bar = 2 }", "expire_bar", "2",
     "did you mean 'expire_bars'?"),
    ("{ action = 'enter_long', quantity = 1, stop_prize = 101 }", "stop_prize", "101",
     "did you mean 'stop_price'?"),
    ("{ action = 'enter_long', sise = 0.5 }", "sise", "0.5", "did you mean 'size'?"),
    ("{ action = 'enter_long', size = '0.5' }", "size", "'0.5'", "must be a number, not str"),
    ("{ action = 'enter_long', quantity = 1, price = 99, expire_bars = 1.5 }", "expire_bars",
     "1.5", "must be a whole number"),
    ("{ action = 'enter_long', risk = true, stop_loss = 95 }", "risk", "True",
     "must be a number, not bool"),
]


@pytest.mark.parametrize(("table", "field", "value", "problem"), BAD)
def test_bad_order_input_names_action_field_value_and_state(
    tmp_path: Path, table: str, field: str, value: str, problem: str
) -> None:
    strategy = load(tmp_path, "function detect_opportunity() return {} end\n"
                              f"function filter_commitment() return {table} end")
    h = Harness(strategy)
    h.next(100.0)
    with pytest.raises(LuaStrategyError) as info:
        h.next(100.0)
    text = str(info.value)
    assert "action 'enter_" in text and f"field '{field}' = {value}" in text
    assert problem in text and text.endswith("(state analyzing)")
    assert info.value.location == "strat.lua:2"
    assert h.machine.state is State.ANALYZING and h.machine.pending_order is None


def test_a_wrong_side_exit_limit_is_refused_in_position(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity() return {} end
      function filter_commitment() return { action = 'enter_long', quantity = 1 } end
      function manage_position() return { action = 'exit', price = 99 } end""")
    h = Harness(strategy)
    h.next(100.0)
    h.next(100.0)
    with pytest.raises(LuaStrategyError) as info:
        h.next(100.0)
    text = str(info.value)
    assert "action 'exit': field 'price' = 99.0" in text
    assert "a sell limit below the close is a market order in disguise" in text
    assert text.endswith("(state in_position)")


def test_a_refused_replacement_leaves_the_waiting_order(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity() return {} end
      function filter_commitment(md)
        if md.index == 2 then return { action = 'enter_long', quantity = 1, price = 95,
                                       expire_bars = 0 } end
        return { action = 'enter_long', quantity = 1, price = 120 }
      end""")
    h = Harness(strategy)
    h.next(100.0)
    h.next(100.0)
    with pytest.raises(LuaStrategyError, match="market order in disguise"):
        h.next(100.0)
    order = h.machine.pending_order
    assert order is not None and order.price == 95.0
