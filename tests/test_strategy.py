"""LuaStrategy: loading, what Lua receives, result conversion and validation, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from factories import make_bar
from test_strategy_support import Harness, load, write

from engine.errors import StrategyError
from engine.indicators.api import IndicatorApi
from engine.market.window import MarketDataWindow
from engine.state import State, StateMachine
from engine.strategy import LuaStrategy, LuaStrategyError

# -- loading ---------------------------------------------------------------


@pytest.mark.parametrize("missing", ["detect_opportunity", "filter_commitment", "manage_position"])
def test_missing_function_is_a_load_error_naming_it_and_the_file(
    tmp_path: Path, missing: str
) -> None:
    names = ["detect_opportunity", "filter_commitment", "manage_position"]
    src = "".join(f"function {n}() end\n" for n in names if n != missing)
    with pytest.raises(LuaStrategyError) as info:
        LuaStrategy(write(tmp_path, src, stubs=False))
    assert info.value.kind == "load"
    assert f"strat.lua does not define function {missing}" in str(info.value)


def test_function_slot_holding_a_number_is_named(tmp_path: Path) -> None:
    src = "detect_opportunity = 3\nfunction filter_commitment() end\nfunction manage_position() end"
    with pytest.raises(LuaStrategyError, match="detect_opportunity \\(it is a number\\)"):
        LuaStrategy(write(tmp_path, src, stubs=False))


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(LuaStrategyError) as info:
        load(tmp_path, "local x = 1\nfunction detect_opportunity(\n  return x +\nend\n")
    assert info.value.kind == "load"
    assert info.value.location is not None and info.value.location.startswith("strat.lua:")
    assert "while loading" in str(info.value)


def test_runtime_error_at_load_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(LuaStrategyError) as info:
        load(tmp_path, "local t = nil\nlocal x = t.field\n")
    assert info.value.location == "strat.lua:2"
    assert "attempt to index a nil value" in str(info.value)


def test_identity_of_a_loaded_strategy(tmp_path: Path) -> None:
    import hashlib

    strategy = load(tmp_path, "-- hello\n")
    text = (tmp_path / "strat.lua").read_bytes()
    assert strategy.sha256 == hashlib.sha256(text).hexdigest()
    assert strategy.name == "strat" and strategy.path == str(tmp_path / "strat.lua")


def test_bad_budget_arguments(tmp_path: Path) -> None:
    from engine.errors import StrategyError

    for kwargs in ({"instruction_budget": 999}, {"memory_mb": 0.0}, {"time_limit_s": -1.0}):
        with pytest.raises(StrategyError, match="instruction_budget must be >= 1000"):
            LuaStrategy(write(tmp_path, ""), **kwargs)


# -- what Lua receives -----------------------------------------------------


def test_market_data_fields(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity(md)
        return { symbol = md.symbol, timestamp = md.timestamp, open = md.open, high = md.high,
                 low = md.low, close = md.close, volume = md.volume, bid = md.bid,
                 ask = md.ask, mid = md.mid_price }
      end""")
    h = Harness(strategy)
    h.next(100.0, bid=99.5, ask=100.25)
    got = dict(h.machine.context)
    assert got == {"symbol": "BTCUSDT", "timestamp": 1_700_000_060_000, "open": 100.0,
                   "high": 101.0, "low": 99.0, "close": 100.0, "volume": 10.0,
                   "bid": 99.5, "ask": 100.25, "mid": (99.5 + 100.25) / 2}


def test_missing_bid_ask_are_the_close(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity(md) return { b = md.bid, a = md.ask, m = md.mid_price } end""")
    h = Harness(strategy)
    h.next(123.0)
    assert dict(h.machine.context) == {"b": 123.0, "a": 123.0, "m": 123.0}


def test_symbol_follows_the_bar(tmp_path: Path) -> None:
    strategy = load(tmp_path, "function detect_opportunity(md) return { s = md.symbol } end")
    h = Harness(strategy, symbol="ETHUSDT")
    h.feed(make_bar(1, symbol="ETHUSDT"))
    assert h.machine.context["s"] == "ETHUSDT"


def test_detect_fields_go_to_context_and_next_function_sees_them(tmp_path: Path) -> None:
    seen: list[str] = []
    strategy = load(tmp_path, """
      function detect_opportunity(md, ctx)
        return { signal = "up", strength = 2, flag = true, ratio = 0.5 }
      end
      function filter_commitment(md, ctx)
        local keys = {}
        for k, v in pairs(ctx) do keys[#keys + 1] = k .. "=" .. tostring(v) end
        table.sort(keys)
        print(table.concat(keys, ","))
        return { action = "cancel_analysis" }
      end""", log=seen.append)
    h = Harness(strategy)
    h.next()
    assert (h.machine.state, dict(h.machine.context)) == (
        State.ANALYZING, {"signal": "up", "strength": 2, "flag": True, "ratio": 0.5})
    h.next()
    assert seen == ["flag=true,ratio=0.5,signal=up,state=analyzing,strength=2"]
    assert h.machine.state is State.IDLE


def test_position_is_visible_in_manage_position(tmp_path: Path) -> None:
    seen: list[str] = []
    strategy = load(tmp_path, """
      function detect_opportunity() return {} end
      function filter_commitment(md)
        return { action = "enter_short", quantity = 2, stop_loss = 110, take_profit = 90 }
      end
      function manage_position(md, ctx)
        local p = ctx.position
        print(ctx.state, p.side, p.entry_price, p.quantity, p.stop_loss, p.take_profit,
              p.unrealized_pnl)
      end""", log=seen.append)
    h = Harness(strategy)
    h.next(100.0)
    h.next(100.0)  # enter short 2 @ 100, entry fee 10 bps of 200 = 0.2
    h.next(95.0)
    pnl = (100.0 - 95.0) * 2 - 0.2
    assert seen == [f"in_position\tshort\t100.0\t2.0\t110.0\t90.0\t{pnl!r}"]


def test_context_has_no_position_when_flat(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity(md, ctx) return { p = type(ctx.position), s = ctx.state } end""")
    h = Harness(strategy)
    h.next()
    assert dict(h.machine.context) == {"p": "nil", "s": "idle"}


def test_context_cleared_after_exit_is_seen_cleared(tmp_path: Path) -> None:
    seen: list[str] = []
    strategy = load(tmp_path, """
      n = 0
      function detect_opportunity(md, ctx)
        n = n + 1
        print(tostring(ctx.tag))
        if n == 1 then return { tag = "first" } end
      end
      function filter_commitment(md, ctx)
        print(ctx.tag)
        return { action = "enter_long", quantity = 1 }
      end
      function manage_position() return { action = "exit" } end""", log=seen.append)
    h = Harness(strategy)
    for _ in range(5):
        h.next()
    assert seen == ["nil", "first", "nil", "nil"]
    assert h.machine.state is State.IDLE


# -- results and their validation -----------------------------------------


def run_filter(tmp_path: Path, table: str) -> Harness:
    strategy = load(tmp_path, f"""
      function detect_opportunity() return {{}} end
      function filter_commitment(md) return {table} end""")
    h = Harness(strategy)
    h.next()
    return h


def filter_error(tmp_path: Path, table: str) -> LuaStrategyError:
    strategy = load(tmp_path, f"""
      function detect_opportunity() return {{}} end
      function filter_commitment(md) return {table} end""")
    h = Harness(strategy)
    h.next()
    history = h.machine.history
    with pytest.raises(LuaStrategyError) as info:
        h.next()
    assert h.machine.state is State.ANALYZING and h.machine.history == history  # unchanged
    assert info.value.function == "filter_commitment"
    return info.value


def test_enter_long_is_applied(tmp_path: Path) -> None:
    h = run_filter(tmp_path, "{ action = 'enter_long', quantity = 0.5, stop_loss = 95 }")
    h.next()
    pos = h.machine.position
    assert h.machine.state is State.IN_POSITION and pos is not None
    assert (pos.side.value, pos.quantity, pos.entry_price, pos.stop_loss) == ("long", 0.5, 100.0,
                                                                            95.0)


def test_typo_in_a_field_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ action = 'enter_long', quantity = 1, stop_los = 95 }")
    assert err.kind == "action"
    assert "'stop_los'" in str(err) and "did you mean 'stop_loss'" in str(err)
    assert "(state analyzing)" in str(err)  # docs/design.md §4: action, field and state
    assert err.location == "strat.lua:3"  # where filter_commitment is defined


def test_unknown_action_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ action = 'enter_lung', quantity = 1 }")
    assert "did you mean 'enter_long'" in str(err)
    assert "(state analyzing)" in str(err)


def test_missing_action_field(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ quantity = 1 }")
    assert "'action'" in str(err) and "missing" in str(err)


def test_mistyped_field(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ action = 'enter_long', quantity = '1' }")
    assert "'quantity'" in str(err) and "must be a number" in str(err)


def test_action_not_allowed_in_state(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ action = 'exit' }")
    assert "only allowed in state in_position" in str(err)


def test_price_outside_the_bar_is_refused(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ action = 'enter_long', quantity = 1, price = 500 }")
    assert "'price'" in str(err)


def test_nested_table_value_is_an_error_naming_the_field(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ action = 'enter_long', quantity = { 1 } }")
    assert err.kind == "error"
    assert "field 'quantity' is a table" in str(err)


def test_function_value_in_detect_result_is_an_error(tmp_path: Path) -> None:
    strategy = load(tmp_path, "function detect_opportunity() return { f = print } end")
    h = Harness(strategy)
    with pytest.raises(LuaStrategyError, match="field 'f' is a function"):
        h.next()
    assert h.machine.state is State.IDLE and len(h.machine.context) == 0


def test_non_string_key_is_an_error(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ 'enter_long' }")
    assert "non-string key 1" in str(err)


def test_non_table_result_is_an_error(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "'enter_long'")
    assert "must return nil or a table, got a string" in str(err)


def test_invalid_utf8_string_is_an_error(tmp_path: Path) -> None:
    err = filter_error(tmp_path, "{ action = 'cancel_analysis', reason = '\\255' }")
    assert "not valid UTF-8" in str(err)


def test_nil_result_changes_nothing(tmp_path: Path) -> None:
    strategy = load(tmp_path, "function detect_opportunity() return nil end")
    h = Harness(strategy)
    assert h.next() is None
    assert h.machine.state is State.IDLE and h.machine.history == ()


def test_exit_returns_the_closed_trade(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity() return {} end
      function filter_commitment() return { action = 'enter_long', quantity = 1 } end
      function manage_position() return { action = 'exit', reason = 'done' } end""")
    h = Harness(strategy)
    h.next(100.0)
    h.next(100.0)
    trade = h.next(110.0)
    assert trade is not None and trade.exit_price == 110.0
    assert trade.pnl == pytest.approx(10.0 - 0.1 - 0.11)


def test_update_stop_loss_moves_the_stop(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity() return {} end
      function filter_commitment()
        return { action = 'enter_long', quantity = 1, stop_loss = 90 }
      end
      function manage_position(md, ctx)
        return { action = 'update_stop_loss', stop_loss = ctx.position.stop_loss + 1 }
      end""")
    h = Harness(strategy)
    for _ in range(4):
        h.next(100.0)
    assert h.machine.position is not None and h.machine.position.stop_loss == 92.0


# -- runtime errors --------------------------------------------------------


def test_runtime_error_names_file_line_and_function(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      local function helper(x)
        return x.missing.field
      end
      function detect_opportunity(md)
        local r = helper(md)
        return r
      end""")
    with pytest.raises(LuaStrategyError) as info:
        Harness(strategy).next()
    err = info.value
    assert err.kind == "error" and err.function == "detect_opportunity"
    assert err.location == "strat.lua:3"
    assert str(err).startswith("strat.lua:3: attempt to index a nil value")
    assert "(in detect_opportunity)" in str(err)
    assert "strat.lua:6:" in err.traceback  # the caller's frame


def test_error_without_position_gets_the_line_from_the_traceback(tmp_path: Path) -> None:
    strategy = load(tmp_path, "function detect_opportunity()\n  error('plain', 0)\nend")
    with pytest.raises(LuaStrategyError) as info:
        Harness(strategy).next()
    assert info.value.location == "strat.lua:2" and "plain" in str(info.value)


def test_error_then_recovery(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      n = 0
      function detect_opportunity()
        n = n + 1
        if n == 1 then error('first') end
        return { n = n }
      end""")
    h = Harness(strategy)
    with pytest.raises(LuaStrategyError):
        h.next()
    h.next()
    assert h.machine.context["n"] == 2


# -- indicators ------------------------------------------------------------


def test_sma_is_nil_in_warm_up_then_the_mean(tmp_path: Path) -> None:
    seen: list[str] = []
    strategy = load(tmp_path, "function detect_opportunity(md, c, ind) print(ind.sma(3)) end",
                    log=seen.append)
    h = Harness(strategy)
    h.closes([10.0, 11.0, 12.0, 13.0])
    assert seen[:2] == ["nil", "nil"]
    assert [float(x) for x in seen[2:]] == [11.0, 12.0]


def test_stream_opened_late_is_seeded_from_the_window(tmp_path: Path) -> None:
    seen: list[str] = []
    strategy = load(tmp_path, """
      n = 0
      function detect_opportunity(md, c, ind)
        n = n + 1
        if n >= 5 then print(ind.sma(4)) end
      end""", log=seen.append)
    h = Harness(strategy)
    h.closes([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert [float(x) for x in seen] == [3.5, 4.5]


def test_defaults_share_the_stream_of_explicit_arguments(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity(md, c, ind)
        local a, b, m1, m2 = ind.rsi(), ind.rsi(14), ind.macd(), ind.macd(12, 26, 9.0)
        return { same = a == b }
      end""")
    h = Harness(strategy)
    h.closes([100.0 + (i % 7) for i in range(40)])
    assert h.machine.context["same"] is True
    assert h.api.streams == [("rsi", (14,)), ("macd", (12, 26, 9))]


def test_multi_output_tables(tmp_path: Path) -> None:
    from engine.indicators import bollinger, macd, stoch

    closes = [100.0 + 3 * np.sin(i / 3) + i * 0.1 for i in range(60)]
    seen: list[str] = []
    strategy = load(tmp_path, """
      function detect_opportunity(md, c, ind)
        local m, b, s = ind.macd(3, 6, 2), ind.bollinger(5, 2, 1.5), ind.stoch()
        if m and b and s then
          local out = {}
          for i, v in ipairs({ m.macd, m.signal, m.histogram, b.upper, b.middle, b.lower,
                               s.k, s.d }) do
            out[i] = string.format("%.17g", v)
          end
          print(table.concat(out, " "))
        end
      end""", log=seen.append)
    Harness(strategy).closes(closes)
    x = np.array(closes)
    mc = macd(x, 3, 6, 2)
    bb = bollinger(x, 5, 2.0, 1.5)
    st = stoch(x * 1.01, x * 0.99, x)
    want = [mc.macd, mc.signal, mc.histogram, bb.upper, bb.middle, bb.lower, st.k, st.d]
    got = [float(v) for v in seen[-1].split()]
    assert got == pytest.approx([w[-1] for w in want], rel=1e-12)
    # warm-up: nothing printed until every output exists (MACD's lookback is the longest)
    first = max(int(np.argmax(~np.isnan(w))) for w in want)
    assert len(seen) == len(closes) - first


def test_window_high_and_low(tmp_path: Path) -> None:
    seen: list[str] = []
    strategy = load(tmp_path, "function detect_opportunity(md, c, ind) print(ind.high, ind.low) end"
                    "\n", log=seen.append)
    h = Harness(strategy)
    h.closes([100.0, 120.0, 90.0])
    # bars span close*0.99 .. close*1.01
    assert seen[-1] == f"{120.0 * 1.01!r}\t{90.0 * 0.99!r}"


@pytest.mark.parametrize("call,message", [
    ("ind.sma(0)", "period"),
    ("ind.sma(2.5)", "integer"),
    ("ind.sma('20')", "argument 1 must be a number, got string"),
    ("ind.rsi(14, 3)", "at most 1 argument"),
    ("ind.bollinger(20, 1e38)", "nbdev_up"),
])
def test_bad_indicator_arguments_are_errors_at_the_callers_line(
    tmp_path: Path, call: str, message: str
) -> None:
    strategy = load(tmp_path, f"function detect_opportunity(md, c, ind)\n  local x = {call}\nend")
    with pytest.raises(LuaStrategyError) as info:
        Harness(strategy).next()
    assert message in str(info.value)
    assert info.value.location == "strat.lua:2"


def test_unknown_indicator_is_nil(tmp_path: Path) -> None:
    strategy = load(tmp_path, "function detect_opportunity(md, c, ind)\n"
                              "  return { t = type(ind.foo) }\nend")
    h = Harness(strategy)
    h.next()
    assert h.machine.context["t"] == "nil"


def test_every_registry_indicator_is_exposed(tmp_path: Path) -> None:
    from engine.indicators.registry import SPECS

    names = ", ".join(f'"{spec.lua}"' for spec in SPECS.values())
    strategy = load(tmp_path, f"""
      function detect_opportunity(md, c, ind)
        local missing = {{}}
        for _, n in ipairs({{ {names} }}) do
          if type(ind[n]) ~= "function" then missing[#missing + 1] = n end
        end
        return {{ missing = table.concat(missing, ",") }}
      end""")
    h = Harness(strategy)
    h.next()
    assert h.machine.context["missing"] == ""
    assert len(SPECS) >= 15  # docs/design.md §3's fifteen, at least


@pytest.mark.parametrize("field", ["state", "position"])
def test_reserved_context_names_are_refused(tmp_path: Path, field: str) -> None:
    strategy = load(tmp_path, f"function detect_opportunity() return {{ {field} = 1 }} end")
    h = Harness(strategy)
    with pytest.raises(LuaStrategyError, match="reserved field") as info:
        h.next()
    assert info.value.kind == "result" and h.machine.state is State.IDLE


def test_memory_error_while_mirroring_the_context_is_a_strategy_error(tmp_path: Path) -> None:
    # The script fills memory to the last few kilobytes (and survives, by
    # catching nothing: its loop ends in the memory error). Mirroring a large
    # context then fails in the glue, outside any user call: still a clean
    # StrategyError, and the machine is untouched. (Before the glue's headroom,
    # lupa converting the context's strings with memory full was a Lua panic:
    # "PANIC: unprotected error in call to Lua API", the process aborted.)
    import lupa.lua54 as lupa

    strategy = load(tmp_path, """
      hog = nil
      function detect_opportunity()
        for i = 1, 1e9 do hog = { next = hog, s = string.rep("x", 100) .. i } end
      end""", instruction_budget=10**9)
    h = Harness(strategy)
    for _ in range(4):  # each call fills what the previous one left (about half of it)
        with pytest.raises(LuaStrategyError) as info:
            h.next()
        assert info.value.kind == "memory" and info.value.__cause__ is None  # from the call
    # within the context limits (250 distinct strings of ~205 bytes < 64 KiB), too big for the rest
    h.machine.context.update({f"k{i}": f"{i:03d}" + "x" * 200 for i in range(250)})
    strategy._synced = -1  # as after any transition: the context is mirrored again
    with pytest.raises(LuaStrategyError) as info:
        h.next()
    assert info.value.kind == "memory"
    assert isinstance(info.value.__cause__, lupa.LuaError)  # from the glue
    assert h.machine.state is State.IDLE and len(h.machine.context) == 250


def test_returned_table_size_is_capped(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity()
        local t = {}
        for i = 1, 300 do t["k" .. i] = i end
        return t
      end""")
    with pytest.raises(LuaStrategyError, match="more than 200 fields"):
        Harness(strategy).next()


def test_long_log_lines_are_cut_to_valid_utf8(tmp_path: Path) -> None:
    lines: list[str] = []
    strategy = load(tmp_path, """
      function detect_opportunity()
        print("a" .. string.rep("é", 100000))
        print("\\255 ok")
      end""", log=lines.append)
    Harness(strategy).next()
    # LOG_LINE_BYTES = 1024: "a" and 511 two-byte characters are 1023 bytes, the
    # 512th character would be cut in half and is dropped; the line has
    # 1 + 2 * 100000 = 200001 bytes, so 200001 - 1023 = 198978 are cut
    assert lines == ["a" + "é" * 511 + "… [198978 bytes cut]", "\\255 ok"]  # escaped


def test_huge_error_messages_are_cut(tmp_path: Path) -> None:
    strategy = load(tmp_path, 'function detect_opportunity() error(string.rep("x", 1e6)) end')
    with pytest.raises(LuaStrategyError) as info:
        Harness(strategy).next()
    assert 2000 <= len(str(info.value)) < 2300


def test_context_refusing_a_key_leaves_the_machine_unchanged(tmp_path: Path) -> None:
    strategy = load(tmp_path, 'function detect_opportunity() return { [""] = 1, ok = 2 } end')
    h = Harness(strategy)
    with pytest.raises(LuaStrategyError) as info:
        h.next()
    assert info.value.kind == "action" and "''" in str(info.value)
    assert h.machine.state is State.IDLE and len(h.machine.context) == 0


def test_traceback_names_the_strategy_function_not_the_engine_glue(tmp_path: Path) -> None:
    path = tmp_path / "strat.lua"
    path.write_text(
        "local function helper(x)\n"
        "  return x.missing.field\n"
        "end\n"
        "function detect_opportunity(md, ctx, ind)\n"
        "  local v = helper(md)\n"
        "  return v\n"
        "end\n"
        "function filter_commitment() end\n"
        "function manage_position() end\n"
    )
    strategy = LuaStrategy(path)
    machine = StateMachine()
    window = MarketDataWindow(10)
    bar = make_bar(0, 100.5, open=100.0, high=101.0, low=99.0)
    window.push(bar)
    api = IndicatorApi("BTCUSDT", window)
    api.on_bar(bar)
    with pytest.raises(StrategyError) as info:
        strategy.step(bar, machine, api)
    text = str(info.value)
    assert "strat.lua:2: in upvalue 'helper'" in text
    assert "strat.lua:5: in function 'detect_opportunity'" in text
    assert "local 'f'" not in text


def test_load_traceback_ends_in_the_main_chunk(tmp_path: Path) -> None:
    path = tmp_path / "strat.lua"
    path.write_text("x = 1\nerror('boom')\n")
    with pytest.raises(StrategyError) as info:
        LuaStrategy(path)
    assert "strat.lua:2: in the main chunk" in str(info.value)
