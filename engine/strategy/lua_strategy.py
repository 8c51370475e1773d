"""LuaStrategy: a user's Lua script driving one symbol's state machine (docs/design.md §5).

Per bar the runner calls ``step``, which makes exactly one Python->Lua crossing
(``glue.step``): the bar's fields and the values of every indicator stream the
script has opened travel as plain arguments; the result comes back as plain
values already checked by the glue, then goes through ``parse_action`` and the
machine. Context and position are mirrored into Lua only when they change.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, cast

import lupa.lua54 as lupa

from engine import bounds
from engine.errors import StrategyError, chained
from engine.indicators.api import IndicatorApi
from engine.market.bar import CLOSE, SYMBOL, Bar
from engine.market.window import MarketDataWindow
from engine.state import ClosedTrade, State, StateMachine, parse_action
from engine.state.actions import suggest
from engine.strategy import prelude
from engine.strategy.errors import LuaStrategyError
from engine.strategy.params import ParamValue, apply_overrides
from engine.strategy.sandbox import Sandbox

FUNCTIONS: Final = ("detect_opportunity", "filter_commitment", "manage_position")
# Final: compiled, a Final module name is a C static; any other is looked up in the
# module's dict at each use (every bar here)
_IDLE: Final = State.IDLE
_ANALYZING: Final = State.ANALYZING
#: context names the engine sets
_RESERVED: Final = frozenset({"state", "position", "order", "order_expired", "order_refused"})
#: the bar fields ``history(field, k)`` reads
HISTORY_FIELDS = ("open", "high", "low", "close", "volume", "timestamp")

LogFn = Callable[[str], None]

#: Lua instructions per call and memory per runtime unless the caller says otherwise
#: (the run and check commands' defaults derive from these).
DEFAULT_INSTRUCTION_BUDGET: Final = 10_000_000
DEFAULT_MEMORY_MB: Final = 64.0


class LuaStrategy:
    """A strategy script in its own sandboxed Lua runtime.

    ``params`` are overrides (``{"fast": "10"}`` as text, or ``{"fast": 10}``), checked against
    the script's ``params`` table. Every call (and loading) runs under
    ``instruction_budget`` Lua instructions (C library work charged by size)
    and ``time_limit_s`` of CPU time; the runtime holds at most ``memory_mb``.
    ``log`` receives the script's ``print``/``indicators.log`` lines (default:
    the ``tandem.lua.<name>`` logger), cut and rate-limited by the glue
    (engine.bounds; ``log_suppressed`` counts the lines held back). Raises LuaStrategyError (a
    StrategyError) if the file cannot be read or the script fails to load,
    breaks a budget while loading or lacks one of the three functions.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        params: Mapping[str, ParamValue] | None = None,
        instruction_budget: int = DEFAULT_INSTRUCTION_BUDGET,
        memory_mb: float = DEFAULT_MEMORY_MB,
        log: LogFn | None = None,
        time_limit_s: float = 5.0,
    ) -> None:
        if instruction_budget < prelude.GRAIN or memory_mb <= 0 or time_limit_s <= 0:
            raise StrategyError(
                f"instruction_budget must be >= {prelude.GRAIN} (the budget's granularity), "
                f"memory_mb and time_limit_s > 0; got {instruction_budget}, {memory_mb} and "
                f"{time_limit_s}"
            )
        self.path = str(path)
        self.name = Path(path).stem
        self._chunk = Path(path).name  # Lua's name for the script in messages
        raw = _read(self.path)
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.params: dict[str, ParamValue] = {}
        self._overrides = dict(params or {})
        self._params_seen = False
        self._log: LogFn = log or logging.getLogger(f"tandem.lua.{self.name}").info
        self._api: IndicatorApi | None = None
        self._registry_names: dict[str, str] = {}  # Lua name -> registry name
        self._symbol: str | None = None
        self._window: MarketDataWindow | None = None
        #: the machine's version last mirrored into Lua (-1: mirror at the next call)
        self._synced = -1
        self._sandbox = Sandbox(
            self._host, instruction_budget=instruction_budget, memory_mb=memory_mb,
            time_limit_s=time_limit_s,
        )
        self._lua_step = self._sandbox.step
        self._load(_decode(raw, self.path))
        self._lines = self._sandbox.lines_defined()

    # -- loading -----------------------------------------------------------

    def _load(self, source: str) -> None:
        try:
            result = self._sandbox.load(source, self._chunk)
        except lupa.LuaError as exc:  # raised by the glue itself, outside its protection
            raise chained(self._glue_error(exc, None), exc) from exc
        status = result if isinstance(result, int) else result[0]
        if status != prelude.OK:
            raise self._failure(result, None)
        if self._overrides and not self._params_seen:
            apply_overrides({}, self._overrides, self.path)  # raises: unknown parameter

    # -- the per-bar call --------------------------------------------------

    def step(self, bar: Bar, machine: StateMachine, api: IndicatorApi) -> ClosedTrade | None:
        """Call the Lua function for ``machine.state`` and apply its result.

        Raises LuaStrategyError on any error; the machine is then unchanged.
        """
        # (identity tests: a dict keyed by the enum would call Enum.__hash__, in Python)
        state = machine.state
        which = 1 if state is _IDLE else 2 if state is _ANALYZING else 3
        pos = machine.position
        if pos is None:
            upnl = held = None
        else:
            upnl, held = pos.unrealized_pnl(bar[CLOSE]), pos.bars_held
        symbol = None
        if bar[SYMBOL] != self._symbol:  # fields by index: see engine/market/bar.py
            symbol = self._symbol = bar[SYMBOL]
        try:
            if api is not self._api:
                self._bind(api)
            if machine.version != self._synced:
                self._sync(machine, bar)
            # fields = timestamp, open, high, low, close, volume, bid, ask: one slice
            # instead of eight attribute reads, of a plain tuple (sliced as a Bar, mypyc
            # unboxed its six numbers into a native tuple and boxed them again for the
            # call: six float allocations a bar). The window and the Lua function come
            # from locals: mypyc reads an Optional's attribute, and calls an attribute
            # with *args, through Python's generic attribute lookup.
            fields = cast("tuple[object, ...]", bar)[1:]
            values = api.values
            window = self._window
            assert window is not None  # bound above
            lua_step = self._lua_step
            result = lua_step(which, symbol, window.count, *fields, upnl, held, len(values),
                              *values)
        except lupa.LuaError as exc:  # raised by the glue itself, outside its protection
            self._symbol = None
            self._synced = -1
            raise chained(self._glue_error(exc, FUNCTIONS[which - 1]), exc) from exc
        if result is None:
            return None
        return self._apply(result, which, bar, machine)

    def _apply(
        self, result: Any, which: int, bar: Bar, machine: StateMachine
    ) -> ClosedTrade | None:
        function = FUNCTIONS[which - 1]
        if isinstance(result, int):
            result = (result,)
        if result[0] != prelude.OK:
            raise self._failure(result, function)
        fields = dict(zip(result[1::2], result[2::2], strict=True))
        if which == 1 and not _RESERVED.isdisjoint(fields):
            where = f"{self._chunk}:{self._lines[0]}"
            raise LuaStrategyError(
                f"{where}: detect_opportunity returned the reserved field(s) "
                f"{sorted(k for k in fields if k in _RESERVED)}: context.state and "
                "context.position are set by the engine; use other names",
                kind="result", function=function, location=where,
            )
        self._synced = -1  # the machine may change: mirror it again next bar
        try:
            if which == 1:
                machine.begin_analysis(fields, bar)
                return None
            return machine.execute(parse_action(fields, machine.state.value), bar)
        except StrategyError as exc:
            where = f"{self._chunk}:{self._lines[which - 1]}"
            raise chained(LuaStrategyError(
                f"{where}: {function} returned a table the engine refused: {exc}",
                kind="action", function=function, location=where,
            ), exc) from exc

    def _sync(self, machine: StateMachine, bar: Bar) -> None:
        """Mirror context, state, position, waiting order and its flags into Lua
        (only when the machine's version moved: clearing a flag moves it too)."""
        pos = machine.position
        # as_dict(): a plain dict's items, not the Mapping mixin's Python-level view;
        # str() of a StrEnum member is its value, without Enum.value's descriptor
        flat = [x for item in machine.context.as_dict().items() for x in item]
        state = str(machine.state)
        order = machine.pending_order
        expired = machine.order_expired or None
        refused = machine.order_refused
        shown: tuple[object, ...] = (None, None, None, None)
        if order is not None:
            shown = (str(order.kind), str(order.side), order.price, order.bars_left)
        if pos is None:
            self._sandbox.set_context(state, False, None, None, None, None, None, None, None,
                                      *shown, expired, refused, *flat)
        else:
            self._sandbox.set_context(
                state, True, str(pos.side), pos.entry_price, pos.quantity,
                pos.stop_loss, pos.take_profit, pos.unrealized_pnl(bar.close), pos.bars_held,
                *shown, expired, refused, *flat,
            )
        self._synced = machine.version

    def _bind(self, api: IndicatorApi) -> None:
        """Use ``api`` from now on: fresh indicator functions, no cached slots."""
        from engine.indicators.registry import SPECS

        self._sandbox.reset_indicators()
        for spec in SPECS.values():
            self._sandbox.add_indicator(spec.lua, len(spec.params), tuple(spec.outputs))
        self._registry_names = {spec.lua: name for name, spec in SPECS.items()}
        self._api = api
        self._window = api.window

    # -- errors ------------------------------------------------------------

    def _failure(self, result: Any, function: str | None) -> LuaStrategyError:
        if not isinstance(result, tuple):
            result = (result,)
        status = result[0]
        during = f"in {function}" if function else "while loading"
        if status == prelude.BUDGET:
            where = str(result[1])
            if result[2] == "time":
                what = f"time limit of {self._sandbox.time_limit_s:g} s (CPU)"
            elif result[2] == "depth":
                what = f"call depth limit of {bounds.CALL_DEPTH:,} nested calls"
            else:
                what = (f"instruction budget of {self._sandbox.instruction_budget:,} "
                        "instructions")
            return LuaStrategyError(
                f"{where}: {what} exceeded {during} ({self.path})",
                kind="budget", function=function, location=where,
            )
        if status == prelude.MEMORY:
            return self._memory_error(function)
        message = str(result[1])
        trace = _user_frames(str(result[2]), self._chunk, function)
        location = _location(message, trace, self._chunk)
        if location and not message.startswith(location):
            message = f"{location}: {message}"
        if not location and not message.startswith(self._chunk):
            message = f"{self._chunk}: {message}"
        kind = "load" if function is None else "error"
        text = f"{message} ({during})"
        if trace:
            text += "\n" + trace
        return LuaStrategyError(text, kind=kind, function=function, location=location,
                                traceback=trace)

    def _glue_error(self, exc: Exception, function: str | None) -> LuaStrategyError:
        """A Lua error raised outside the glue's protection: in practice the
        memory cap hit while the glue mirrored the context or built the call."""
        if isinstance(exc, lupa.LuaMemoryError) or "not enough memory" in str(exc):
            return self._memory_error(function)
        during = f"in {function}" if function else "while loading"
        return LuaStrategyError(
            f"{self._chunk}: the call failed {during}: {str(exc)[:500]}",
            kind="error", function=function,
        )

    def _memory_error(self, function: str | None) -> LuaStrategyError:
        during = f"in {function}" if function else "while loading"
        mb = self._sandbox.memory_bytes / (1024 * 1024)
        with contextlib.suppress(lupa.LuaError):  # still full: the next call fails the same way
            self._sandbox.collect()
        return LuaStrategyError(
            f"{self.path}: memory cap of {mb:g} MiB exceeded {during}",
            kind="memory", function=function,
        )

    # -- the host callback (the only Python object Lua holds) --------------

    def _host(self, op: int, *args: Any) -> Any:
        """Serve the glue; never raises (errors go back as (0, message))."""
        try:
            if op == prelude.HOST_OPEN:
                return self._open(*args)
            if op == prelude.HOST_LOG:
                self._log_line(args)
                return None
            if op == prelude.HOST_EXTREMES:
                return self._extremes()
            if op == prelude.HOST_PARAMS:
                return self._declare_params(args)
            if op == prelude.HOST_HISTORY:
                return self._history(*args)
            return (0, f"unknown host operation {op}")
        except Exception as exc:  # must not unwind through Lua
            return (0, str(exc))

    def _log_line(self, args: tuple[Any, ...]) -> None:
        """A line (already cut by the glue), or a marker: (None, 1) = the call's
        allowance is used up, (None, 2) = the per-run rate is."""
        if args[0] is not None:
            self._log(str(args[0]))
        elif args[1] == 1:
            self._log(f"[{self._chunk}: more than {bounds.LOG_LINES_PER_CALL} log lines in one "
                      "call; the rest of this call's lines are counted, not written]")
        else:
            self._log(f"[{self._chunk}: log rate limit reached ({bounds.LOG_BURST_LINES:,} "
                      f"lines, then {bounds.LOG_LINES_PER_BAR} per call); further lines are "
                      "counted, not written, until the strategy logs less]")

    @property
    def log_suppressed(self) -> int:
        """Log lines counted but not written so far (engine.bounds' log limits)."""
        with contextlib.suppress(lupa.LuaError):
            return self._sandbox.log_dropped()
        return 0

    def _open(self, name: str, *args: Any) -> tuple[Any, ...]:
        if self._api is None:
            return (0, "no indicator API is bound")
        slot, value = self._api.open(self._registry_names.get(name, name), args)
        if value is None:
            return (slot,)
        if isinstance(value, tuple):
            return (slot, *value)
        return (slot, value)

    def _extremes(self) -> tuple[float | None, float | None]:
        if self._api is None:
            return (None, None)
        return (self._api.high(), self._api.low())

    def _history(self, field: object, k: object) -> tuple[int, object]:
        """(1, the value of ``field`` ``k`` bars ago or None beyond the window), or
        (0, why the arguments are wrong)."""
        if field not in HISTORY_FIELDS:
            hint = suggest(str(field), HISTORY_FIELDS)
            return (0, f"history: field {field!r} is not a bar field{hint}; fields: "
                       f"{', '.join(HISTORY_FIELDS)}")
        ok = isinstance(k, int | float) and not isinstance(k, bool) and math.isfinite(k)
        if not ok or k != int(k) or k < 1:  # type: ignore[call-overload, operator]
            return (0, f"history({field!r}, k): k = {k!r} must be a whole number >= 1 "
                       "(bars ago; 1 = the previous bar)")
        if self._api is None:
            return (1, None)
        return (1, self._api.window.back(str(field), int(k)))  # type: ignore[call-overload]

    def _declare_params(self, flat: tuple[Any, ...]) -> tuple[Any, ...]:
        defaults: dict[str, ParamValue] = dict(zip(flat[0::2], flat[1::2], strict=True))
        overrides = apply_overrides(defaults, self._overrides, "params")
        self.params = {**defaults, **overrides}
        self._params_seen = True
        out: list[Any] = []
        for key, value in overrides.items():
            out += (key, value)
        return tuple(out)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        error = LuaStrategyError(f"cannot read strategy {path}: {exc}", kind="load")
        raise chained(error, exc) from exc


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        error = LuaStrategyError(f"strategy {path} is not UTF-8 text: {exc}", kind="load")
        raise chained(error, exc) from exc


#: How Lua names the frame of the user's entry point: the glue calls it as its local `f`.
_GLUE_FRAME = "in local 'f'"


def _user_frames(trace: str, path: str, function: str | None) -> str:
    """The traceback lines that point into the script itself, the entry frame named
    after the strategy function (or the main chunk while loading) instead of the
    glue's local variable."""
    entry = f"in function '{function}'" if function else "in the main chunk"
    lines = [ln.strip() for ln in trace.splitlines()]
    return "\n".join(
        f"  {ln.replace(_GLUE_FRAME, entry)}" for ln in lines if ln.startswith(path + ":")
    )


def _location(message: str, trace: str, path: str) -> str | None:
    """'path:line' from the message, else from the innermost script frame."""
    for text in (message, trace.strip()):
        if text.startswith(path + ":"):
            line = text[len(path) + 1:].split(":", 1)[0]
            if line.isdigit():
                return f"{path}:{line}"
    return None
