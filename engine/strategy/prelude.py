"""The trusted Lua glue that seals the sandbox and runs every strategy call.

It is loaded into a fresh runtime *before* any user code, while the real
globals (``debug``, ``load``, ``setmetatable``, the full string library) are
still reachable; it captures what it needs in locals and hands user code only
the whitelisted environment it builds. Nothing of it is visible to the script
except through the functions in that environment.

Calling convention with Python (docs/design.md §10: one crossing per bar):

* ``glue.step(which, symbol, index, ts, o, h, l, c, v, bid, ask, upnl, held, n, ...)``
  calls strategy function ``which`` (1 detect, 2 filter, 3 manage); ``symbol`` is
  nil when unchanged since the last call; ``index`` is the bar's number
  (``market_data.index``); ``upnl`` and ``held`` (the position's unrealized P&L
  and bars_held, nil when flat) change every bar in place, without a
  ``set_context``; the ``n`` varargs are the flattened
  values of every indicator stream the strategy has opened, in slot order. It
  returns nothing (the function returned nil) or a status code followed by
  plain values: ``OK, key1, value1, ...`` (the returned table, already checked
  to hold only string keys and scalar values), ``ERR, message, traceback``,
  ``BUDGET, where, kind`` (kind "instructions", "time" or "depth") or ``MEMORY``.
* The only Python object the runtime holds is the ``host`` callback, kept in
  an upvalue of this chunk; lupa's attribute filter refuses any attribute of
  it anyway.
"""

from __future__ import annotations

#: Status codes returned by ``glue.step`` / ``glue.load`` (first value).
OK, ERR, BUDGET, MEMORY = 1, 2, 3, 4
#: Operation codes of the ``host`` callback.
HOST_OPEN, HOST_LOG, HOST_EXTREMES, HOST_PARAMS, HOST_HISTORY = 1, 2, 3, 4, 5
#: The budget is checked every GRAIN instructions (so it is exact to GRAIN).
GRAIN = 1000

PRELUDE = r"""
local host, budget, time_limit, GRAIN, OK, ERR, BUDGET, MEMORY,
      H_OPEN, H_LOG, H_EXTREMES, H_PARAMS, H_HISTORY, LIMITS = ...
-- The host-side bounds (engine/bounds.py: one home for each limit).
local HOST_CALL, HOST_OPEN = LIMITS.HOST_CALL_INSTRUCTIONS, LIMITS.HOST_OPEN_INSTRUCTIONS
local BYTES = LIMITS.BYTES_PER_INSTRUCTION
local LOG_LINE, LOG_PER_CALL = LIMITS.LOG_LINE_BYTES, LIMITS.LOG_LINES_PER_CALL
local LOG_BURST, LOG_PER_BAR = LIMITS.LOG_BURST_LINES, LIMITS.LOG_LINES_PER_BAR
local MAX_FIELDS, MAX_STRING = LIMITS.RESULT_FIELDS, LIMITS.STRING_BYTES
local MAX_TABLE, SCALAR = LIMITS.CONTEXT_BYTES, LIMITS.SCALAR_BYTES
local MAX_MESSAGE = LIMITS.ERROR_MESSAGE_BYTES
-- getinfo level of a frame CALL_DEPTH calls below the user's entry point (the
-- hook at level 1, then the user frames, then the glue's step/xpcall/call_user)
local DEPTH_LEVEL = LIMITS.CALL_DEPTH + 4

-- Everything the glue uses, captured before the sandbox is sealed.
local type, select, next, pairs, ipairs, tostring, tonumber, error, assert =
      type, select, next, pairs, ipairs, tostring, tonumber, error, assert
local pcall, xpcall, setmetatable, getmetatable, rawset, load =
      pcall, xpcall, setmetatable, getmetatable, rawset, load
local sethook, getinfo, traceback = debug.sethook, debug.getinfo, debug.traceback
local co_create, co_resume, co_status, co_yield, co_running, co_isyieldable, co_close =
      coroutine.create, coroutine.resume, coroutine.status, coroutine.yield,
      coroutine.running, coroutine.isyieldable, coroutine.close
local s_find, s_format, s_gsub, s_sub = string.find, string.format, string.gsub, string.sub
local t_concat, t_unpack = table.concat, table.unpack
local utf8_len = utf8.len
local clock = os.clock
local collectgarbage = collectgarbage
local MEMMSG = "not enough memory"

-- Remove lupa's python module from the real globals too (belt and braces:
-- user code never sees the real globals).
python = nil
package.loaded.python = nil

---------------------------------------------------------------------------
-- Budgets. One count hook per thread, all feeding one counter; it only bites
-- while a user call is armed. Library functions whose C work grows with their
-- input (sort, concat, rep, ...) charge that work to the same counter (see
-- `charge`), so a loop of cheap-looking calls cannot run for hours. As a last
-- line the hook also checks the call's CPU time (VM operations such as
-- comparing two long strings are O(n) too). Once exhausted the hook keeps
-- erroring every GRAIN instructions, and the safe pcall/xpcall/resume
-- re-raise, so user code cannot swallow it.
---------------------------------------------------------------------------
local used, armed, exhausted, memfail, where, over = 0, false, false, false, nil, nil
local t0 = nil            -- CPU time at the call's first hook
local chunksource = nil   -- "@<file name>" of the user script

-- "file:line" of the innermost frame running the user's script.
local function user_frame(level)
  while true do
    local info = getinfo(level, "Sl")
    if info == nil then return nil end
    if info.source == chunksource then
      return info.short_src .. ":" .. tostring(info.currentline)
    end
    level = level + 1
  end
end

local EXCEEDED = {time = "time limit exceeded", depth = "call depth limit exceeded",
                  instructions = "instruction budget exceeded"}
local function exceed(kind, level)
  if not exhausted then
    exhausted, over = true, kind
    where = user_frame(level + 1)
  end
  error(EXCEEDED[kind], level)
end

-- A deep recursion is cheap in instructions but not in host time (a stack of a
-- million slots makes every later call and collection slow), so the hook also
-- bounds the depth. getinfo walks only the frames that exist: O(depth), nothing
-- for the usual shallow call, and it allocates only when the limit is passed.
local function hook()
  if not armed then return end
  used = used + GRAIN
  if used > budget then exceed(over or "instructions", 2) end
  if getinfo(DEPTH_LEVEL, "") ~= nil then exceed(over or "depth", 2) end
  local now = clock()
  if t0 == nil then t0 = now elseif now - t0 > time_limit then exceed("time", 2) end
end
sethook(hook, "", GRAIN)
-- Each call allocates a few short-lived tables (market_data, the values):
-- the generational collector frees them cheaply, without incremental-cycle spikes.
collectgarbage("generational")

-- Charge n instruction-equivalents of C work done for the caller's caller.
local function charge(n)
  used = used + n
  if armed and used > budget then exceed(over or "instructions", 3) end
end

-- The log allowance: LOG_PER_CALL lines per call, and a bucket of LOG_BURST
-- lines refilled by LOG_PER_BAR before each call (the per-run rate). Lines past
-- either are counted here (log_dropped), never sent to the host. The host gets
-- one marker line instead: once per call past the call's allowance, once per
-- dry spell of the bucket (it ends when the bucket is full again).
local log_left, log_tokens, log_dropped = LOG_PER_CALL, LOG_BURST, 0
local call_marked, rate_marked = false, false

-- Before every call: the call's allowance, the bucket's refill.
local function log_refill()
  log_left, call_marked, log_tokens = LOG_PER_CALL, false, log_tokens + LOG_PER_BAR
  if log_tokens >= LOG_BURST then log_tokens, rate_marked = LOG_BURST, false end
end

local function arm()
  used, armed, exhausted, memfail, where, over, t0 = 0, true, false, false, nil, nil, nil
  log_refill()
end

local function fatal(ok, ...)
  if not ok then
    if (...) == MEMMSG then memfail = true end
    if exhausted or memfail then error((...), 0) end
  end
  return ok, ...
end

local function safe_pcall(f, ...) return fatal(pcall(f, ...)) end
-- A message handler for an error raised by the hook runs with hooks disabled
-- (Lua sets allowhook = 0 until a pcall boundary): never run user code then.
local function safe_xpcall(f, handler, ...)
  local function guarded(e)
    if exhausted or memfail then return e end
    return handler(e)
  end
  return fatal(xpcall(f, guarded, ...))
end

local function safe_create(f)
  local co = co_create(f)
  sethook(co, hook, "", GRAIN)
  return co
end
local function safe_resume(co, ...) return fatal(co_resume(co, ...)) end
local function wrap_results(ok, ...)
  if not ok then error((...), 0) end
  return ...
end
local function safe_wrap(f)
  local co = safe_create(f)
  return function(...) return wrap_results(fatal(co_resume(co, ...))) end
end

---------------------------------------------------------------------------
-- The sandbox environment (a whitelist; docs/design.md §5).
---------------------------------------------------------------------------
local function copy(src, names)
  local t = {}
  for i = 1, #names do t[names[i]] = src[names[i]] end
  return t
end

-- C work is charged at one instruction per BYTES bytes produced or scanned
-- (about what a Lua instruction costs here), one per element moved or
-- returned, n*log2(n) for a sort; a call into the host costs HOST_CALL.

-- f, charged by the size of its (single) string result.
local function by_result(f)
  return function(...)
    local r = f(...)
    if type(r) == "string" then charge(#r // BYTES) end
    return r
  end
end

local function counted(...)
  charge(select("#", ...))
  return ...
end

local s_byte, s_char = string.byte, string.char
local safe_string = {
  len = string.len,
  rep = by_result(string.rep), sub = by_result(string.sub), format = by_result(string.format),
  upper = by_result(string.upper), lower = by_result(string.lower),
  reverse = by_result(string.reverse),
  byte = function(...) return counted(s_byte(...)) end,
  char = function(...) charge(select("#", ...)); return s_char(...) end,
}
safe_string.find = function(s, sub, init, plain)
  if plain ~= true then
    error("string.find: patterns are not available in the sandbox; " ..
          "use plain search: s:find(sub, init, true)", 2)
  end
  if type(s) == "string" and type(sub) == "string" then
    -- worst case of the plain search: every position compares up to #sub bytes
    local positions = #s - #sub + 1
    if positions > 0 then charge(#s // BYTES + positions * #sub // (4 * BYTES)) end
  end
  return s_find(s, sub, init, true)
end

local t_insert, t_remove, t_sort, t_move, t_pack =
      table.insert, table.remove, table.sort, table.move, table.pack
local function span(i, j) if j >= i then return j - i + 1 end return 0 end
local safe_table = {
  concat = function(t, sep, i, j)
    local r = t_concat(t, sep, i, j)
    charge(#r // BYTES + span(i or 1, j or #t))
    return r
  end,
  insert = function(t, ...)
    if select("#", ...) >= 2 then
      local pos = ...
      if type(pos) == "number" then charge(span(pos, #t)) end
    end
    return t_insert(t, ...)
  end,
  remove = function(t, pos)
    if type(pos) == "number" then charge(span(pos, #t)) end
    if pos == nil then return t_remove(t) end
    return t_remove(t, pos)
  end,
  sort = function(t, cmp)
    local n, lg = #t, 1
    local m = n
    while m > 1 do m = m // 2; lg = lg + 1 end
    charge(n * lg)
    return t_sort(t, cmp)
  end,
  move = function(a1, f, e, t, a2)
    if type(f) == "number" and type(e) == "number" then charge(span(f, e)) end
    return t_move(a1, f, e, t, a2)
  end,
  unpack = function(t, i, j)
    if type(t) == "table" and (i == nil or type(i) == "number")
       and (j == nil or type(j) == "number") then
      charge(span(i or 1, j or #t))  -- before: a huge span fails here, not in C
    end
    return t_unpack(t, i, j)
  end,
  pack = function(...) charge(select("#", ...)); return t_pack(...) end,
}

local function safe_tonumber(s, base)
  if type(s) == "string" then charge(#s // BYTES) end
  if base == nil then return tonumber(s) end
  return tonumber(s, base)
end
-- The string metatable is shared by every string: point it at the safe table
-- so ("").dump or s:gsub(...) cannot reach the host string library.
getmetatable("").__index = safe_string

local env = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  select = select, tonumber = safe_tonumber, tostring = tostring, type = type,
  pcall = safe_pcall, xpcall = safe_xpcall, _VERSION = _VERSION,
  string = safe_string,
  math = copy(math, {"abs", "ceil", "exp", "floor", "fmod", "huge", "log", "max",
                     "maxinteger", "min", "mininteger", "modf", "pi", "random",
                     "randomseed", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan",
                     "tointeger", "type", "ult"}),
  table = safe_table,
  coroutine = {create = safe_create, resume = safe_resume, wrap = safe_wrap,
               status = co_status, yield = co_yield, running = co_running,
               isyieldable = co_isyieldable, close = co_close},
}
env._G = env
math.randomseed(42)  -- reproducible runs: math.random is the same sequence every run

local function escape_byte(ch) return "\\" .. s_byte(ch) end
-- Strings crossing to Python must be valid UTF-8 (lupa decodes them).
local function clean(s)
  if utf8_len(s) then return s end
  return (s_gsub(s, "[\128-\255]", escape_byte))
end

-- At most n bytes of s, as valid UTF-8 (a character cut in two is dropped).
local function cut(s, n)
  if #s > n then
    s = s_sub(s, 1, n)
    local ok, bad = utf8_len(s)
    if not ok and bad > n - 4 then s = s_sub(s, 1, bad - 1) end
  end
  return clean(s)
end

-- A line the allowance refuses is counted; see log_left above for the markers
-- (why: 1 = the call's allowance, 2 = the rate).
local function refuse(why)
  log_dropped = log_dropped + 1
  if why == 1 then
    if call_marked then return end
    call_marked = true
  else
    if rate_marked then return end
    rate_marked = true
  end
  charge(HOST_CALL)
  host(H_LOG, nil, why)
end

local function log(...)
  if log_left <= 0 then return refuse(1) end
  if log_tokens < 1 then return refuse(2) end
  log_left, log_tokens = log_left - 1, log_tokens - 1
  local n = select("#", ...)
  local parts, size = {...}, n   -- (select(i, ...) in a loop would copy n values n times)
  for i = 1, n do
    local s = tostring(parts[i])
    parts[i] = s
    size = size + #s
  end
  charge(HOST_CALL + n + size // BYTES)
  local line = t_concat(parts, "\t", 1, n)
  if #line > LOG_LINE then
    local kept = s_sub(line, 1, LOG_LINE)
    local ok, bad = utf8_len(kept)
    if not ok and bad > LOG_LINE - 4 then kept = s_sub(kept, 1, bad - 1) end  -- a cut character
    line = s_format("%s… [%d bytes cut]", clean(kept), #line - #kept)
  else
    line = clean(line)
  end
  host(H_LOG, line)
end
env.print = log

-- history(field, k): field of the bar k bars ago, from the host's window. A field
-- that is no short string fails here, before anything crosses; the host checks
-- the rest (and names the closest field).
local HISTORY_FIELD_BYTES = 64
local function history(field, k)
  if type(field) ~= "string" or #field > HISTORY_FIELD_BYTES then
    error(s_format("history: field must be a bar field name (open, high, low, close, " ..
                   "volume, timestamp), got %s", type(field) == "string" and "a long string"
                   or ("a " .. type(field))), 2)
  end
  if type(k) ~= "number" then
    error(s_format("history(%q, k): k must be a whole number >= 1 (bars ago), got a %s",
                   field, type(k)), 2)
  end
  charge(HOST_CALL)
  local ok, v = host(H_HISTORY, field, k)
  if ok == 0 then error(v, 2) end
  return v
end
env.history = history

---------------------------------------------------------------------------
-- Indicators: the values of every open stream arrive with each step (vals);
-- a stream is opened through host on its first request.
---------------------------------------------------------------------------
local vals = {}
local hl_valid, hl_high, hl_low = false, nil, nil   -- window high/low, fetched once per bar
local NOARG = {}               -- slot key for "no arguments given"
local ind_inner = setmetatable({}, {
  __index = function(_, k)
    if k ~= "high" and k ~= "low" then return nil end
    if not hl_valid then
      charge(HOST_CALL)
      hl_high, hl_low = host(H_EXTREMES)
      hl_valid = true
    end
    if k == "high" then return hl_high end
    return hl_low
  end,
})
local function readonly(name, inner)
  return setmetatable({}, {
    __index = inner,
    __newindex = function(_, k)
      error(name .. " is read-only (tried to set " .. tostring(k) .. ")", 2)
    end,
    __pairs = function() return next, inner, nil end,
  })
end
local indicators = readonly("indicators", ind_inner)
ind_inner.log = log

local function open(name, slots, key, a, b, c)
  local args = {a, b, c}
  for i = 1, 3 do
    local x = args[i]
    if x ~= nil and type(x) ~= "number" then
      error(s_format("indicators.%s: argument %d must be a number, got %s", name, i, type(x)), 3)
    end
  end
  charge(HOST_OPEN)  -- also when it fails: a loop of failing requests under pcall
  local s, v1, v2, v3 = host(H_OPEN, name, a, b, c)
  if s == 0 then error("indicators." .. name .. ": " .. v1, 3) end
  slots[key] = s
  vals[s], vals[s + 1], vals[s + 2] = v1, v2, v3  -- this bar's value(s)
  return s
end

local function checkargs(name, np, a, b, c)
  -- arguments may be omitted only from the right (defaults fill them)
  local n = (c ~= nil and 3) or (b ~= nil and 2) or (a ~= nil and 1) or 0
  if n > np then
    error(s_format("indicators.%s takes at most %d argument(s), got %d", name, np, n), 3)
  end
end

local function make_indicator(name, np, o1, o2, o3)
  local slots = {}
  if o2 == nil then
    return function(a, b, c)
      local key = a
      if np > 1 then key = tostring(a) .. "," .. tostring(b) .. "," .. tostring(c)
      elseif a == nil then key = NOARG end
      local s = slots[key]
      if s == nil then
        checkargs(name, np, a, b, c)
        s = open(name, slots, key, a, b, c)
      end
      return vals[s]
    end
  end
  return function(a, b, c)
    local key = tostring(a) .. "," .. tostring(b) .. "," .. tostring(c)
    local s = slots[key]
    if s == nil then
      checkargs(name, np, a, b, c)
      s = open(name, slots, key, a, b, c)
    end
    local x = vals[s]
    if x == nil then return nil end
    if o3 == nil then return {[o1] = x, [o2] = vals[s + 1]} end
    return {[o1] = x, [o2] = vals[s + 1], [o3] = vals[s + 2]}
  end
end

---------------------------------------------------------------------------
-- Context: a read-only view of the machine's context, state and position.
---------------------------------------------------------------------------
local ctx_inner, pos_inner, ord_inner = {}, {}, {}
local position = readonly("context.position", pos_inner)
local order = readonly("context.order", ord_inner)
local context = readonly("context", ctx_inner)

local function clear(t) for k in next, t do t[k] = nil end end

---------------------------------------------------------------------------
-- Calls into user code, errors, results.
---------------------------------------------------------------------------
local chunkname = nil

-- Both ways out of a protected user call disarm the budget *inside* the
-- protection (the message handler runs before the stack unwinds), so the hook
-- can never raise in the glue code that follows. (A memory error skips the
-- handler; step disarms again, and Python treats a raise from the glue as
-- a failed call.)
local function handler(e)
  armed = false
  if exhausted or memfail or e == MEMMSG then return e end
  local msg
  if type(e) == "string" then msg = e
  elseif type(e) == "number" or type(e) == "boolean" then msg = tostring(e)
  else msg = "error object is a " .. type(e) .. " value" end
  return {msg, traceback("", 2)}
end

local function failure(e)
  if exhausted then return BUDGET, where or "?", over end
  if memfail or e == MEMMSG then return MEMORY end
  if type(e) == "table" then return ERR, cut(e[1], MAX_MESSAGE), cut(e[2], MAX_MESSAGE) end
  return ERR, cut(tostring(e), MAX_MESSAGE), ""
end

local out = {}
-- A field name as quoted in a message: at most 60 bytes of it.
local function quoted(k)
  if #k > 60 then return cut(k, 60) .. "…" end
  return clean(k)
end

-- Sizes are checked before anything is converted or quoted, so a huge key or
-- string costs the host nothing but the message saying so.
local function flatten(r, what)
  local n, size = 0, 0
  for k, v in next, r do
    if n >= 2 * MAX_FIELDS then
      return ERR, s_format("%s returned a table with more than %d fields", what, MAX_FIELDS), ""
    end
    if type(k) ~= "string" then
      return ERR, s_format("%s returned a table with a non-string key %s", what,
                           cut(tostring(k), 60)), ""
    end
    if #k > MAX_STRING then
      return ERR, s_format("%s returned a table with a key of %d bytes ('%s'); keys and " ..
                           "strings may have at most %d bytes", what, #k, quoted(k),
                           MAX_STRING), ""
    end
    local tv = type(v)
    if tv ~= "number" and tv ~= "string" and tv ~= "boolean" then
      return ERR, s_format("%s returned a table whose field '%s' is a %s; only numbers, " ..
                           "strings and booleans are allowed", what, quoted(k), tv), ""
    end
    if tv == "string" then
      if #v > MAX_STRING then
        return ERR, s_format("%s returned a table whose field '%s' is a string of %d bytes; " ..
                             "strings may have at most %d bytes", what, quoted(k), #v,
                             MAX_STRING), ""
      end
      size = size + #k + #v
    else
      size = size + #k + SCALAR
    end
    if size > MAX_TABLE then
      return ERR, s_format("%s returned a table of more than %d bytes (keys and strings by " ..
                           "their length, %d per number or boolean)", what, MAX_TABLE,
                           SCALAR), ""
    end
    if not utf8_len(k) or (tv == "string" and not utf8_len(v)) then
      return ERR, s_format("%s returned a table whose field '%s' is not valid UTF-8", what,
                           quoted(k)), ""
    end
    out[n + 1] = k; out[n + 2] = v
    n = n + 2
  end
  return OK, t_unpack(out, 1, n)
end

local NAMES = {"detect_opportunity", "filter_commitment", "manage_position"}
local fns = {}
local cur_symbol = nil

local function call_user(f, ...)
  local r = f(...)
  armed = false
  return r
end

local function finish(which, ok, r)
  if not ok or exhausted or memfail then return failure(r) end
  if r == nil then return end
  if type(r) ~= "table" then
    return ERR, s_format("%s must return nil or a table, got a %s", NAMES[which], type(r)), ""
  end
  return flatten(r, NAMES[which])
end

local function step(which, sym, idx, ts, o, h, l, c, v, bid, ask, upnl, held, nvals, ...)
  if nvals <= 4 then
    vals[1], vals[2], vals[3], vals[4] = ...  -- the usual few: no table per call
  else
    vals = {...}
  end
  hl_valid = false
  if sym ~= nil then cur_symbol = sym end
  local mid = c
  if bid ~= nil and ask ~= nil then mid = (bid + ask) / 2 end
  local md = {symbol = cur_symbol, timestamp = ts, open = o, high = h, low = l, close = c,
              volume = v, bid = bid or c, ask = ask or c, mid_price = mid, index = idx}
  if upnl ~= nil then pos_inner.unrealized_pnl, pos_inner.bars_held = upnl, held end
  -- arm(), inlined: this runs every bar
  used, exhausted, memfail, where, over, t0 = 0, false, false, nil, nil, nil
  log_left, call_marked, log_tokens = LOG_PER_CALL, false, log_tokens + LOG_PER_BAR
  if log_tokens >= LOG_BURST then log_tokens, rate_marked = LOG_BURST, false end
  armed = true
  -- A count hook makes the VM trap on every instruction, the glue's too: it is set
  -- for the user's call only (sma_crossover: 25.0k -> 22.8k CPU instructions a step,
  -- callgrind). Its count restarts here: the budget stays exact to GRAIN.
  sethook(hook, "", GRAIN)
  local ok, r = xpcall(call_user, handler, fns[which], md, context, indicators)
  sethook()
  armed = false
  if ok and r == nil and not exhausted and not memfail then return end  -- no action
  return finish(which, ok, r)
end

local function run_chunk(f)
  arm()
  local ok, e = xpcall(call_user, handler, f)
  armed = false
  if not ok or exhausted or memfail then return failure(e) end
  for i = 1, 3 do
    local fn = env[NAMES[i]]
    if type(fn) ~= "function" then
      return ERR, s_format("%s does not define function %s (it is %s)", chunkname, NAMES[i],
                           fn == nil and "missing" or ("a " .. type(fn))), ""
    end
    fns[i] = fn
  end
  return OK
end

local function check_params(t)
  if type(t) ~= "table" then
    error("params must be a table of name = default value, got a " .. type(t), 3)
  end
  local flat, n = {}, 0
  for k, v in next, t do
    local tv = type(v)
    if type(k) ~= "string" or (tv ~= "number" and tv ~= "string" and tv ~= "boolean") then
      error(s_format("params.%s: parameters must be named numbers, strings or booleans, got %s",
                     clean(tostring(k)), tv), 3)
    end
    if not utf8_len(k) or (tv == "string" and not utf8_len(v)) then
      error(s_format("params.%s: names and string values must be valid UTF-8", clean(k)), 3)
    end
    flat[n + 1] = k; flat[n + 2] = v
    n = n + 2
  end
  -- Python validates the command-line overrides against these defaults.
  charge(HOST_CALL + n)
  local r = {host(H_PARAMS, t_unpack(flat, 1, n))}
  if r[1] == 0 then error(r[2], 3) end
  for i = 1, #r, 2 do t[r[i]] = r[i + 1] end
end

-- The script's globals live in env; assigning the params table applies the
-- overrides at once, so a top-level `local fast = params.fast` sees them.
setmetatable(env, {
  __newindex = function(t, k, v)
    if k == "params" then check_params(v) end
    rawset(t, k, v)
  end,
})

local glue = {}

function glue.load(src, name)
  chunkname = name
  chunksource = "@" .. name
  local f, e = load(src, "@" .. name, "t", env)
  if not f then return ERR, clean(e), "" end
  return run_chunk(f)
end

glue.step = step

function glue.add_indicator(name, np, o1, o2, o3)
  ind_inner[name] = make_indicator(name, np, o1, o2, o3)
end

-- The waiting order (kind nil: none) and this bar's order flags (nil when not set).
function glue.set_context(state, has_pos, side, entry, qty, sl, tp, upnl, held,
                          okind, oside, oprice, oleft, expired, refused, ...)
  clear(ctx_inner)
  clear(pos_inner)
  clear(ord_inner)
  local flat = {...}   -- (select(i, ...) in a loop would copy every value each time)
  for i = 1, select("#", ...), 2 do ctx_inner[flat[i]] = flat[i + 1] end
  if has_pos then
    pos_inner.side, pos_inner.entry_price, pos_inner.quantity = side, entry, qty
    pos_inner.stop_loss, pos_inner.take_profit, pos_inner.unrealized_pnl = sl, tp, upnl
    pos_inner.bars_held = held
    ctx_inner.position = position
  end
  if okind ~= nil then
    ord_inner.kind, ord_inner.side, ord_inner.price, ord_inner.bars_left =
      okind, oside, oprice, oleft
    ctx_inner.order = order
  end
  ctx_inner.order_expired, ctx_inner.order_refused = expired, refused
  ctx_inner.state = state
end

function glue.reset_indicators()
  for name in next, ind_inner do
    if name ~= "log" then ind_inner[name] = nil end
  end
end

function glue.functions_defined()
  local r = {}
  for i = 1, 3 do r[i] = getinfo(fns[i], "S").linedefined end
  return t_unpack(r)
end

function glue.collect() collectgarbage("collect") end

-- Log lines counted but not sent to the host so far.
function glue.log_dropped() return log_dropped end

return glue
"""
