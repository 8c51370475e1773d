"""The sandbox: every known route from a strategy to the host is closed (issue 6).

Each test runs Lua through a real LuaStrategy and asserts what the script
could see or do. Values come back through detect_opportunity's table (which
lands in the machine's context).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_strategy_support import Harness, load

from engine.errors import StrategyError
from engine.strategy import LuaStrategy, LuaStrategyError


def probe(tmp_path: Path, body: str) -> dict[str, object]:
    """Run ``body`` as detect_opportunity on one bar; return the table it produced."""
    strategy = load(tmp_path, f"function detect_opportunity(md, ctx, ind)\n{body}\nend\n")
    h = Harness(strategy)
    h.next()
    return dict(h.machine.context)


def fails(tmp_path: Path, body: str) -> LuaStrategyError:
    """Run ``body`` as detect_opportunity and return the error it raised."""
    strategy = load(tmp_path, f"function detect_opportunity(md, ctx, ind)\n{body}\nend\n")
    with pytest.raises(LuaStrategyError) as info:
        Harness(strategy).next()
    return info.value


HOST_NAMES = [
    "python", "os", "io", "debug", "package", "require", "load", "loadstring", "loadfile",
    "dofile", "collectgarbage", "getmetatable", "setmetatable", "rawget", "rawset",
    "rawequal", "rawlen", "getfenv", "setfenv", "module", "newproxy", "utf8",
]


@pytest.mark.parametrize("name", HOST_NAMES)
def test_host_globals_are_absent(tmp_path: Path, name: str) -> None:
    got = probe(tmp_path, f'return {{ t = type({name}), g = type(_G["{name}"]) }}')
    assert got == {"t": "nil", "g": "nil"}


def test_python_object_unreachable_by_any_name(tmp_path: Path) -> None:
    # lupa registers `python` in the real globals and package.loaded; neither
    # is reachable, and the glue removed it from both anyway.
    got = probe(tmp_path, "return { e = type(_ENV.python), p = type(_G.package) }")
    assert got == {"e": "nil", "p": "nil"}


def test_no_userdata_reachable_from_the_environment(tmp_path: Path) -> None:
    # Walk everything reachable from _G, the arguments and string values'
    # methods: a Python object would show up as userdata.
    got = probe(tmp_path, """
      local seen, bad, n = {}, {}, 0
      local function walk(v, path)
        local t = type(v)
        if t == "userdata" or t == "thread" then bad[#bad + 1] = path end
        if t ~= "table" or seen[v] then return end
        seen[v] = true
        for k, x in pairs(v) do n = n + 1; walk(x, path .. "." .. tostring(k)) end
      end
      walk(_G, "_G"); walk(md, "md"); walk(ctx, "ctx"); walk(ind, "ind")
      walk(("").sub, "strmeth")
      return { bad = table.concat(bad, ","), n = n }
    """)
    assert got["bad"] == ""
    assert isinstance(got["n"], int) and got["n"] > 50


def test_string_metatable_reaches_only_the_safe_string_table(tmp_path: Path) -> None:
    got = probe(tmp_path, """
      local s = "abc"
      return { dump = type(("").dump), gsub = type(s.gsub), match = type(s.match),
               gmatch = type(s.gmatch), rep = s:rep(2), up = s:upper(),
               same = (("").rep == string.rep), plain = s:find("c", 1, true) }
    """)
    assert got == {"dump": "nil", "gsub": "nil", "match": "nil", "gmatch": "nil",
                   "rep": "abcabc", "up": "ABC", "same": True, "plain": 3}


def test_string_library_has_no_pattern_functions(tmp_path: Path) -> None:
    got = probe(tmp_path, """return { d = type(string.dump), g = type(string.gsub),
        m = type(string.match), gm = type(string.gmatch), p = type(string.pack) }""")
    assert got == {"d": "nil", "g": "nil", "m": "nil", "gm": "nil", "p": "nil"}


def test_pattern_bomb_is_refused_at_once(tmp_path: Path) -> None:
    # This pattern makes Lua's C matcher run for hours, with no hook firing.
    err = fails(tmp_path, 'local x = string.rep("a", 5000):find(".-.-.-.-.-.-.-.-b")')
    assert err.kind == "error"
    assert "patterns are not available" in str(err)
    assert "strat.lua:2" in str(err)


def test_find_without_plain_flag_is_refused(tmp_path: Path) -> None:
    err = fails(tmp_path, 'return { x = string.find("abc", "b") }')
    assert "use plain search" in str(err)


def test_load_with_binary_chunk_is_impossible(tmp_path: Path) -> None:
    # No load/loadstring/dofile and no string.dump to make a binary chunk.
    err = fails(tmp_path, 'local f = load("\\27Lua")')
    assert "global 'load'" in str(err)


def test_metatables_cannot_be_set_so_no_gc_or_tostring_hooks(tmp_path: Path) -> None:
    err = fails(tmp_path, "setmetatable({}, { __gc = function() while true do end end })")
    assert "global 'setmetatable'" in str(err)


def test_read_only_tables_refuse_writes(tmp_path: Path) -> None:
    for target in ("ind.sma", "ind.extra", "ctx.state", "ctx.foo"):
        err = fails(tmp_path, f"{target} = 1")
        assert "read-only" in str(err), target


def test_writes_to_read_only_tables_cannot_be_forced(tmp_path: Path) -> None:
    got = probe(tmp_path, """
      local ok = pcall(function() ind.sma = function() return 1 end end)
      return { ok = ok, t = type(ind.sma), r = type(rawset) }
    """)
    assert got == {"ok": False, "t": "function", "r": "nil"}


def test_errors_raised_by_the_host_reach_lua_as_strings(tmp_path: Path) -> None:
    # A Python exception object in Lua would be a Python object to poke at.
    got = probe(tmp_path, """
      local ok, e = pcall(ind.sma, 0)
      local ok2, e2 = pcall(ind.sma, {})
      return { ok = ok, t = type(e), ok2 = ok2, t2 = type(e2), m = e }
    """)
    assert got["ok"] is False and got["t"] == "string"
    assert got["ok2"] is False and got["t2"] == "string"
    assert "sma" in str(got["m"]) and "period" in str(got["m"])


def test_host_callback_refuses_attributes_and_items(tmp_path: Path) -> None:
    # The only Python object in the runtime is the host callback (a glue
    # upvalue). Even if code could reach it, the runtime's attribute filter
    # refuses attributes; and a bound method has no items.
    strategy = load(tmp_path, "")
    runtime = strategy._sandbox.runtime
    get = runtime.eval("function(o, k) return o[k] end")
    for key in ("__self__", "__func__", "__globals__", "__class__", 0, "x"):
        with pytest.raises(Exception) as info:
            get(strategy._host, key)
        assert not isinstance(info.value, AssertionError)


def test_attribute_filter_covers_python_objects_but_not_items(tmp_path: Path) -> None:
    strategy = load(tmp_path, "")
    get = strategy._sandbox.runtime.eval("function(o, k) return o[k] end")
    for obj in (strategy, object(), len):
        with pytest.raises(AttributeError):
            get(obj, "__class__")
    # lupa indexes dicts and arrays by item, past the filter: this is why the
    # sandbox hands Lua no Python container at all (see the userdata walk).
    assert get({"k": 1}, "k") == 1
    assert get(np.arange(3), 2) == 2


def test_indicator_values_are_plain_lua_numbers(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity(md, ctx, ind)
        local m = ind.macd()
        if m == nil then return nil end
        return { a = math.type(ind.sma(3)), b = math.type(m.macd), c = math.type(md.close),
                 d = math.type(md.timestamp), e = type(ind.high) }
      end""")
    h = Harness(strategy)
    for i in range(40):
        h.next(100.0 + i)
    assert dict(h.machine.context) == {"a": "float", "b": "float", "c": "float",
                                       "d": "integer", "e": "number"}


def test_globals_of_one_strategy_are_invisible_to_another(tmp_path: Path) -> None:
    a = load(tmp_path, "secret = 42\n")
    (tmp_path / "b").mkdir()
    b = load(tmp_path / "b", "function detect_opportunity() return { s = type(secret) } end\n")
    h = Harness(b)
    h.next()
    assert a is not b and dict(h.machine.context) == {"s": "nil"}


def test_print_and_log_go_to_the_log_callback(tmp_path: Path) -> None:
    lines: list[str] = []
    strategy = load(tmp_path, """
      function detect_opportunity(md, ctx, ind)
        print("close", md.close, nil, true)
        ind.log("bad utf8", "\\255")
      end""", log=lines.append)
    Harness(strategy).next(100.0)
    assert lines[0] == "close\t100.0\tnil\ttrue"
    assert lines[1].startswith("bad utf8\t") and "\\255" in lines[1]


def test_strategy_error_is_a_tandem_strategy_error(tmp_path: Path) -> None:
    err = fails(tmp_path, "error('boom')")
    assert isinstance(err, StrategyError) and isinstance(err, LuaStrategyError)


def test_math_random_is_reproducible(tmp_path: Path) -> None:
    src = "function detect_opportunity() return { r = math.random(1, 1000000) } end\n"
    values = []
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        h = Harness(load(tmp_path / sub, src))
        h.next()
        values.append(h.machine.context["r"])
    assert values[0] == values[1]


def test_strategy_file_must_be_readable(tmp_path: Path) -> None:
    with pytest.raises(LuaStrategyError, match="cannot read strategy"):
        LuaStrategy(tmp_path / "missing.lua")


def test_the_globals_are_exactly_the_documented_whitelist(tmp_path: Path) -> None:
    got = probe(tmp_path, """
      local names = {}
      for k, v in pairs(_G) do
        if type(v) == "table" and k ~= "_G" then
          for f in pairs(v) do names[#names + 1] = k .. "." .. f end
        else
          names[#names + 1] = k
        end
      end
      table.sort(names)
      return { names = table.concat(names, " ") }
    """)
    script = {"detect_opportunity", "filter_commitment", "manage_position"}
    names = set(str(got["names"]).split()) - script
    words = {
        "": "assert error ipairs next pairs select tonumber tostring type pcall xpcall print "
            "_G _VERSION history",
        "string.": "byte char format len lower upper rep reverse sub find",
        "table.": "concat insert move pack remove sort unpack",
        "coroutine.": "create resume wrap status yield running isyieldable close",
        "math.": "abs ceil floor fmod modf exp log sqrt sin cos tan asin acos atan max min "
                 "huge pi maxinteger mininteger tointeger type ult random randomseed",
    }
    expected = {prefix + w for prefix, text in words.items() for w in text.split(" ")}
    assert names == expected


def test_binary_file_is_refused(tmp_path: Path) -> None:
    # A precompiled chunk starts with "\x1bLua" and is not UTF-8 text either.
    path = tmp_path / "compiled.lua"
    path.write_bytes(b"\x1bLuaT\x00\x19\x93\r\n\x1a\n\x04\x08\x08\xff")
    with pytest.raises(LuaStrategyError, match="not UTF-8 text"):
        LuaStrategy(path)


def test_binary_chunk_text_is_refused_by_load(tmp_path: Path) -> None:
    # "\x1bLua" is valid UTF-8; the text-only loader still refuses it.
    path = tmp_path / "compiled.lua"
    path.write_bytes(b"\x1bLuaT\x00")
    with pytest.raises(LuaStrategyError, match="attempt to load a binary chunk"):
        LuaStrategy(path)


def test_wrapped_library_functions_keep_their_semantics(tmp_path: Path) -> None:
    got = probe(tmp_path, """
      local ok, e = pcall(error, "plain")
      local ok2, e2 = xpcall(function() error({}) end, function(x) return type(x) end)
      local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
      local co = coroutine.create(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
      local _, r1 = coroutine.resume(co, 1)
      local _, r2 = coroutine.resume(co, 5)
      local t = {5, 3, 9}
      table.sort(t, function(a, b) return a > b end)
      table.insert(t, 1, 0); table.insert(t, 7)
      local removed = table.remove(t, 1)
      local packed = table.pack(1, nil, 3)
      local moved = table.move({1, 2, 3}, 1, 3, 2, {})
      return { pc = tostring(ok) .. e, xp = tostring(ok2) .. e2,
               gen = gen() + gen() + gen(), co = r1 .. "," .. r2,
               sorted = table.concat(t, ","), removed = removed, n = packed.n,
               moved = tostring(moved[1]) .. "," .. moved[4],
               num = tonumber("0x10") + tonumber("z", 36) + tonumber(" 7 "),
               s = ("abc"):upper() .. ("ABC"):lower() .. ("ab"):rep(2, "-") .. ("abc"):reverse()
                   .. ("abcdef"):sub(2, 3) .. string.char(("A"):byte()) .. string.format("%03d", 7),
               unpacked = select("#", table.unpack({1, 2, 3})) }
    """)
    assert got == {"pc": "falseplain", "xp": "falsetable", "gen": 6, "co": "2,10",
                   "sorted": "9,5,3,7", "removed": 0, "n": 3, "moved": "nil,3",
                   "num": 16 + 35 + 7, "s": "ABCabcab-abcbabcA007", "unpacked": 3}
