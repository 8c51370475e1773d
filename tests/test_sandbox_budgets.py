"""Budgets: every runaway strategy ends with the right StrategyError, fast, and the
engine stays healthy (the next call works, other strategies are unaffected).

Runaway scripts run under a 10^6-instruction budget and a 16 MiB cap (the
defaults are 10^7 and 64 MiB; one test uses them) so the suite stays quick.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_strategy_support import Harness, load

from engine.strategy import LuaStrategy, LuaStrategyError

#: A global switch: the first call runs ``body``, later calls return {ok = n}.
TEMPLATE = """
calls = 0
function detect_opportunity(md, ctx, ind)
  calls = calls + 1
  if calls == 1 then
{body}
  end
  return {{ ok = calls }}
end
"""


def first_call_fails(tmp_path: Path, body: str, **kw: object) -> LuaStrategyError:
    """Run ``body`` in the first call; check that the second call works; return the error."""
    strategy = load(tmp_path, TEMPLATE.format(body=body), **kw)
    h = Harness(strategy)
    with pytest.raises(LuaStrategyError) as info:
        h.next()
    assert h.machine.state.value == "idle" and len(h.machine.history) == 0  # unchanged
    h.next()
    assert h.machine.context["ok"] == 2  # healthy again
    return info.value


def assert_budget(err: LuaStrategyError, line: int | None = None) -> None:
    assert err.kind == "budget"
    assert err.function == "detect_opportunity"
    assert "instruction budget of 1,000,000 instructions exceeded in detect_opportunity" in str(err)
    if line is not None:
        assert err.location == f"strat.lua:{line}"


def test_infinite_loop_in_a_call(tmp_path: Path) -> None:
    assert_budget(first_call_fails(tmp_path, "while true do end"), line=6)


def test_default_budget_stops_a_loop(tmp_path: Path) -> None:
    strategy = LuaStrategy(_write(tmp_path, TEMPLATE.format(body="while true do end")))
    with pytest.raises(LuaStrategyError, match="budget of 10,000,000 instructions"):
        Harness(strategy).next()


def test_loop_under_pcall_cannot_swallow_the_budget(tmp_path: Path) -> None:
    err = first_call_fails(tmp_path, """
      while true do
        local ok = pcall(function() while true do end end)
      end""")
    assert_budget(err)


def test_catching_every_error_in_a_loop_does_not_help(tmp_path: Path) -> None:
    err = first_call_fails(tmp_path, """
      for i = 1, 1e12 do pcall(error, "x") end""")
    assert_budget(err)


def test_xpcall_with_a_looping_handler(tmp_path: Path) -> None:
    err = first_call_fails(tmp_path, """
      xpcall(function() error("x") end, function(e) while true do end end)
      while true do end""")
    assert_budget(err)


def test_xpcall_cannot_swallow_the_budget(tmp_path: Path) -> None:
    err = first_call_fails(tmp_path, """
      local ok = xpcall(function() while true do end end, function(e) return e end)
      return { swallowed = true }""")
    assert_budget(err)


def test_loop_in_a_coroutine(tmp_path: Path) -> None:
    err = first_call_fails(tmp_path, """
      local co = coroutine.create(function() while true do end end)
      local ok, e = coroutine.resume(co)
      return { swallowed = true }""")
    assert_budget(err)


def test_loop_in_a_wrapped_coroutine_under_pcall(tmp_path: Path) -> None:
    err = first_call_fails(tmp_path, """
      local f = coroutine.wrap(function() while true do end end)
      pcall(f)
      return { swallowed = true }""")
    assert_budget(err)


def test_many_coroutines_share_one_budget(tmp_path: Path) -> None:
    # Each coroutine is well under the budget; together they are far over it.
    err = first_call_fails(tmp_path, """
      for i = 1, 1000 do
        local co = coroutine.create(function() for j = 1, 20000 do end end)
        coroutine.resume(co)
      end""")
    assert_budget(err)


def test_coroutine_created_at_load_and_resumed_later(tmp_path: Path) -> None:
    src = """
      local co = coroutine.create(function()
        coroutine.yield()
        while true do end
      end)
      coroutine.resume(co)
      function detect_opportunity() coroutine.resume(co) end
    """
    strategy = load(tmp_path, src)
    with pytest.raises(LuaStrategyError) as info:
        Harness(strategy).next()
    assert info.value.kind == "budget"


def test_infinite_loop_at_load_time(tmp_path: Path) -> None:
    with pytest.raises(LuaStrategyError) as info:
        load(tmp_path, "local x = 0\nwhile true do x = x + 1 end\n")
    err = info.value
    assert err.kind == "budget" and err.function is None
    assert "exceeded while loading" in str(err) and err.location == "strat.lua:2"


def test_finalizers_cannot_be_installed(tmp_path: Path) -> None:
    # __gc finalizers run with hooks disabled; the sandbox has no setmetatable.
    err = first_call_fails(tmp_path, """
      setmetatable({}, { __gc = function() while true do end end })""")
    assert err.kind == "error" and "setmetatable" in str(err)


def test_error_object_cannot_carry_tostring(tmp_path: Path) -> None:
    # A table error object gets no __tostring (no metatables): it is described.
    err = first_call_fails(tmp_path, "error({ reason = 'x' })")
    assert err.kind == "error" and "error object is a table value" in str(err)


def test_error_object_with_tostring_is_impossible(tmp_path: Path) -> None:
    err = first_call_fails(tmp_path, """
      error(setmetatable({}, { __tostring = function() while true do end end }))""")
    assert err.kind == "error" and "setmetatable" in str(err)


def assert_memory(err: LuaStrategyError) -> None:
    assert err.kind == "memory" and err.function == "detect_opportunity"
    assert "memory cap of 16 MiB exceeded in detect_opportunity" in str(err)


def test_table_growth_hits_the_memory_cap(tmp_path: Path) -> None:
    assert_memory(first_call_fails(tmp_path, """
      local t = {}
      for i = 1, 1e9 do t[i] = i end""", instruction_budget=10**9))


def test_one_huge_allocation_in_a_single_c_call(tmp_path: Path) -> None:
    assert_memory(first_call_fails(tmp_path, 'local s = string.rep("x", 1e9)'))


def test_memory_error_under_pcall_is_not_swallowed(tmp_path: Path) -> None:
    assert_memory(first_call_fails(tmp_path, """
      local ok, e = pcall(string.rep, "x", 1e9)
      return { swallowed = e }"""))


def test_string_doubling_bomb(tmp_path: Path) -> None:
    assert_memory(first_call_fails(tmp_path, """
      local s = "x"
      while true do s = s .. s end"""))


def test_table_concat_bomb(tmp_path: Path) -> None:
    assert_memory(first_call_fails(tmp_path, """
      local t = {}
      for i = 1, 64 do t[i] = string.rep("y", 1e6) end
      local big = table.concat(t)"""))


def test_memory_bomb_at_load_time(tmp_path: Path) -> None:
    with pytest.raises(LuaStrategyError) as info:
        load(tmp_path, 'big = string.rep("x", 1e9)\n')
    assert info.value.kind == "memory" and "while loading" in str(info.value)


def test_memory_held_in_globals_keeps_failing_cleanly(tmp_path: Path) -> None:
    src = """
      hog = {}
      function detect_opportunity()
        for i = 1, 1e9 do hog[#hog + 1] = i end
      end"""
    h = Harness(load(tmp_path, src, instruction_budget=10**9))
    for _ in range(3):
        with pytest.raises(LuaStrategyError) as info:
            h.next()
        assert info.value.kind == "memory"


def test_deep_recursion_ends_at_the_call_depth_limit(tmp_path: Path) -> None:
    # Before the limit, a recursion ran to Lua's own "stack overflow" (~500k frames,
    # a 16 MB stack) and every such call got slower than the last (0.2 s, 0.6 s,
    # 2.4 s, ...: bench/attacks.py deep_recursion). Now it ends at CALL_DEPTH.
    err = first_call_fails(tmp_path, """
      local function f(n) return 1 + f(n + 1) end
      f(1)""", instruction_budget=10**8, memory_mb=64.0)
    assert err.kind == "budget"
    assert "call depth limit of 1,000 nested calls exceeded in detect_opportunity" in str(err)
    assert err.location == "strat.lua:7"  # the line of the recursive call


def test_deep_recursion_cannot_be_caught(tmp_path: Path) -> None:
    err = first_call_fails(tmp_path, """
      local function f(n) return 1 + f(n + 1) end
      for i = 1, 10 do pcall(f, 1) end""", instruction_budget=10**8)
    assert err.kind == "budget" and "call depth limit" in str(err)


def test_recursion_below_the_depth_limit_works(tmp_path: Path) -> None:
    from engine.bounds import CALL_DEPTH

    # CALL_DEPTH - 10 nested calls, from the entry point down: allowed (and
    # inside a coroutine, whose own stack starts at depth 0, the same).
    strategy = load(tmp_path, f"""
      local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end
      function detect_opportunity()
        local co = coroutine.wrap(function() return f({CALL_DEPTH - 10}) end)
        return {{ direct = f({CALL_DEPTH - 10}), nested = co() }}
      end""")
    h = Harness(strategy)
    h.next()
    assert h.machine.context["direct"] == CALL_DEPTH - 10
    assert h.machine.context["nested"] == CALL_DEPTH - 10


def test_runaway_strategy_leaves_other_instances_alone(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    bad = load(tmp_path / "bad", "function detect_opportunity() while true do end end\n")
    seen: list[str] = []
    good = load(tmp_path, "function detect_opportunity(md) print(md.close) end\n",
                log=seen.append)
    hb, hg = Harness(bad), Harness(good)
    for i in range(3):
        with pytest.raises(LuaStrategyError):
            hb.next()
        hg.next(100.0 + i)
    assert seen == ["100.0", "101.0", "102.0"]


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "strat.lua"
    path.write_text(source + "\nfunction filter_commitment() end\nfunction manage_position() end\n")
    return path


def test_log_flood_is_cut_per_call(tmp_path: Path) -> None:
    lines: list[str] = []
    h = Harness(load(tmp_path, """
      function detect_opportunity() for i = 1, 5000 do print(i) end end""", log=lines.append))
    h.next()
    assert lines[:100] == [str(i) for i in range(1, 101)]
    assert len(lines) == 101 and "log lines in one call" in lines[100]
    h.next()  # the next call has a fresh allowance
    assert len(lines) == 202 and lines[101] == "1"


def test_opening_streams_in_a_loop_hits_the_stream_limit(tmp_path: Path) -> None:
    from engine.indicators.api import MAX_STREAMS

    h = Harness(load(tmp_path, """
      n = 0
      function detect_opportunity(md, ctx, ind)
        n = n + 1
        if n > 300 then for p = 2, 100000 do ind.sma(p) end end
      end""", instruction_budget=10_000_000))  # 256 opens at 10,000 each fit
    for _ in range(300):  # a long window makes every stream opening expensive
        h.next()
    with pytest.raises(LuaStrategyError, match="too many indicator streams"):
        h.next()
    assert len(h.api.streams) == MAX_STREAMS


# -- C work that one instruction can start: charged to the same budget -----

@pytest.mark.parametrize("body", [
    # each call is one "instruction" but sorts 200k elements
    "local t = {} for i = 1, 200000 do t[i] = -i end\n"
    "      for i = 1, 1e9 do table.sort(t) end",
    # inserting at the front shifts the whole table: quadratic
    "local t = {} for i = 1, 1e9 do table.insert(t, 1, i) end",
    # a plain find whose worst case is |s| * |sub| byte comparisons
    'local s = string.rep("a", 1e6)\n'
    '      local x = s:find(string.rep("a", 5e5) .. "b", 1, true)',
    # a C loop over 10^15 (empty) slots, allocating nothing
    "table.move({}, 1, 1e15, 1)",
    # copying a big string again and again
    'local s = string.rep("x", 4e6) for i = 1, 1e9 do local u = s:upper() end',
    'local s = string.rep("x", 4e6) for i = 1, 1e9 do local u = s:sub(2) end',
    'local t = {} for i = 1, 1e5 do t[i] = "abcdefgh" end\n'
    "      for i = 1, 1e9 do local u = table.concat(t) end",
    'local s = string.rep("1", 4e6) for i = 1, 1e9 do local u = tonumber(s) end',
    'local s = string.rep("x", 4e6) for i = 1, 1e9 do print(s) end',
    "local t = {} for i = 1, 1e6 do t[i] = i end\n"
    "      for i = 1, 1e9 do local a = #{table.unpack(t)} end",
])
def test_c_work_is_charged_to_the_instruction_budget(tmp_path: Path, body: str) -> None:
    assert_budget(first_call_fails(tmp_path, body, memory_mb=64.0))


def test_time_limit_stops_vm_operations_that_are_o_n(tmp_path: Path) -> None:
    # Comparing two distinct, equal 8 MB strings is one VM instruction doing a
    # memcmp: the CPU-time guard catches what the instruction count cannot.
    err = first_call_fails(tmp_path, """
      local a = string.rep("x", 8e6)
      local b = string.rep("x", 8e6 - 1) .. "x"
      local n = 0
      for i = 1, 1e9 do if a == b then n = n + 1 end end""",
                           instruction_budget=10**9, memory_mb=64.0, time_limit_s=0.3)
    assert err.kind == "budget" and "time limit of 0.3 s (CPU) exceeded" in str(err)
    assert err.location == "strat.lua:10"


def test_budget_errors_are_classified_right_every_time(tmp_path: Path) -> None:
    # The hook fires every 1,000 instructions wherever the VM is, glue included;
    # the glue disarms inside the protected call, so every one of these calls
    # must end as a budget error from the script, never as a raise from the glue.
    strategy = load(tmp_path, """
      n = 0
      function detect_opportunity()
        n = n + 1
        local x = 0
        for i = 1, 1e9 do x = x + i % (n + 1) end
      end""", instruction_budget=3_000 + 17)
    h = Harness(strategy)
    kinds = set()
    for _ in range(300):
        with pytest.raises(LuaStrategyError) as info:
            h.next()
        kinds.add((info.value.kind, info.value.location))
    assert kinds == {("budget", "strat.lua:6")}
