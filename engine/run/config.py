"""The typed configuration of each command: one home for every option's default and range.

``RunConfig`` (``run``, and any Python caller: ``engine.run.backtest``), ``CheckConfig``
(``check``) and ``VerifyConfig`` (``verify``) are frozen dataclasses checked as a whole
when built (``__post_init__``): a bad value is a ConfigError naming the option (as its
command-line flag: field ``fee_bps`` is ``--fee-bps``), the value and what would be
valid. ``engine/cli.py`` builds them from the parsed arguments and derives its
defaults and help texts from the fields here; the defaults themselves come from the
library that owns them (``Costs``, ``MarketDataWindow``, ``LuaStrategy``, the feeds).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from engine.errors import ConfigError
from engine.market.feeds.interval import parse_interval
from engine.market.feeds.simulated import DEFAULT_SEED
from engine.market.feeds.spec import (
    DEFAULT_HISTORY,
    DEFAULT_INTERVAL,
    DEFAULT_REST_URL,
    DEFAULT_WS_URL,
    check_spec,
)
from engine.market.window import DEFAULT_CAPACITY
from engine.run.runner import DEFAULT_MAX_ERRORS
from engine.state import Costs, Execution, FillMode
from engine.state.execution import DEFAULT_LEVERAGE, MAX_LEVERAGE
from engine.strategy.lua_strategy import (
    DEFAULT_INSTRUCTION_BUDGET,
    DEFAULT_MEMORY_MB,
    LogFn,
    LuaStrategy,
)
from engine.strategy.params import ParamValue

_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COSTS: Final = Costs()
_EXECUTION: Final = Execution()

#: Upper bounds keep absurd values from turning into overflows or memory errors
#: deep inside a run (an int64 in the journal, numpy buffers, the Lua budget).
MAX_RUN_BARS: Final = 2**63 - 1
MAX_CHECK_BARS: Final = 10_000_000  # check and verify hold their bars in memory
MAX_WINDOW: Final = 1_000_000  # beyond this the window's numpy buffers need gigabytes
LUA_BUDGET_RANGE: Final = (1_000, 10**12)
LUA_MEMORY_MB_RANGE: Final = (1.0, 65_536.0)
BPS_LIMIT: Final = 10_000.0  # fees and slippage in [0, 100 %)
DEFAULT_JOURNAL: Final = Path("runs.sqlite")


def flag(name: str) -> str:
    """The command-line flag of a config field: ``fee_bps`` → ``--fee-bps``."""
    return "--" + name.replace("_", "-")


# -- field checks (each raises ConfigError naming the flag and the value) ----------------


def _whole(name: str, value: object, lo: int, hi: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{flag(name)} {value!r}: must be a whole number in [{lo:,}, {hi:,}]{unit}"
        )
    if not lo <= value <= hi:
        raise ConfigError(f"{flag(name)} {value}: must be in [{lo:,}, {hi:,}]{unit}")


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{flag(name)} {value!r}: must be a number")
    return float(value)


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError(f"--seed {seed}: must be in [0, 2**63)")


def _check_params(params: Mapping[str, ParamValue]) -> None:
    for name, value in params.items():
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise ConfigError(f"--param {name!r}: a parameter name is letters, digits and _")
        if not isinstance(value, str | int | float):  # bool is an int
            raise ConfigError(
                f"--param {name}={value!r}: must be text, a number or a boolean"
            )


def _check_symbols(symbols: Sequence[str]) -> tuple[str, ...]:
    """Upper-cased, checked, unique, in order."""
    text = ",".join(str(s) for s in symbols)
    out: list[str] = []
    for raw in symbols:
        symbol = str(raw).strip().upper()
        if not _SYMBOL.fullmatch(symbol):
            raise ConfigError(
                f"--symbols: invalid symbol {str(raw).strip()!r} in {text!r}; expected letters "
                "and digits such as BTCUSDT, separated by commas"
            )
        if symbol in out:
            raise ConfigError(f"--symbols: {symbol} is listed twice in {text!r}")
        out.append(symbol)
    if not out:
        raise ConfigError("--symbols: no symbol given; expected e.g. BTCUSDT")
    return tuple(out)


def strategy_file(path: str | Path) -> Path:
    """The strategy file as a Path; ConfigError when it is missing or not a file."""
    p = Path(path)
    if not p.is_file():
        what = "is not a file" if p.exists() else "does not exist"
        raise ConfigError(f"strategy file {path}: the file {what}")
    return p


# -- the commands' configurations ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StrategyOptions:
    """What every command running a Lua strategy needs: the file, parameter overrides
    (``{"fast": 10}``, or text as ``--param`` gives it), the seed of the simulated bars,
    and the sandbox's limits per call (instructions) and per runtime (MiB)."""

    strategy: Path
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    seed: int = DEFAULT_SEED
    lua_budget: int = DEFAULT_INSTRUCTION_BUDGET
    lua_memory_mb: float = DEFAULT_MEMORY_MB

    def __post_init__(self) -> None:
        _set(self, "strategy", strategy_file(self.strategy))
        _set(self, "params", dict(self.params))  # a copy: the caller's dict may change later
        _check_params(self.params)
        _check_seed(self.seed)
        _whole("lua_budget", self.lua_budget, *LUA_BUDGET_RANGE)
        lo, hi = LUA_MEMORY_MB_RANGE
        memory = _number("lua_memory_mb", self.lua_memory_mb)
        if not lo <= memory <= hi:  # NaN fails both comparisons
            raise ConfigError(f"--lua-memory-mb {memory}: must be in [{lo:g}, {hi:g}]")

    def load_strategy(self, path: Path, log: LogFn | None = None) -> LuaStrategy:
        """A new LuaStrategy of ``path`` with these overrides and limits."""
        return LuaStrategy(
            str(path),
            params=self.params,
            instruction_budget=self.lua_budget,
            memory_mb=self.lua_memory_mb,
            log=log,
        )


@dataclass(frozen=True, kw_only=True)
class ShadowOptions:
    """Shadow mode (``--shadow-ocaml``): ``strict`` makes a mismatch or shadow error
    fail the run (exit 1); ``sample`` is the share of bars compared, in (0, 1];
    ``timeout`` bounds each answer of the OCaml server, in seconds; ``in_run``
    checks on a thread of the run instead of in a forked shadow process
    (bridge/shadow/process.py)."""

    strict: bool = False
    sample: float = 1.0
    timeout: float = 5.0
    in_run: bool = False

    def __post_init__(self) -> None:
        sample = _number("shadow_sample", self.sample)
        if not 0.0 < sample <= 1.0:
            raise ConfigError(
                f"--shadow-sample must be in (0, 1], got {sample:g}; 1 compares every bar"
            )
        timeout = _number("shadow_timeout", self.timeout)
        if not 0.0 < timeout < math.inf:
            raise ConfigError(
                f"--shadow-timeout must be a finite number of seconds > 0, got {timeout:g}"
            )


@dataclass(frozen=True, kw_only=True)
class RunConfig(StrategyOptions):
    """One run: a strategy (per symbol if ``strategy_for`` says so) over a feed.

    ``feed``: ``sim`` (seeded random walk, ``bars`` per symbol, 10,000 unless given),
    ``csv:PATH`` or ``binance``; ``bars`` stops each symbol after that many bars.
    ``fee_bps`` / ``slippage_bps``: costs per fill. ``fill``, ``cash``, ``leverage``: where
    market orders fill, the starting equity, the cash check (docs/design.md §4).
    ``history``: closed bars fetched before the first live bar (``binance`` only; None =
    DEFAULT_HISTORY, the rule in docs/strategies.md). ``max_errors``: consecutive strategy
    errors before a symbol's strategy is stopped. ``window``: bars kept per symbol.
    ``watch``: hot-reload strategy files. ``journal``: the SQLite journal.
    ``shadow``: check every indicator value against OCaml (None: off).
    """

    strategy_for: Mapping[str, Path] = field(default_factory=dict)
    feed: str = "sim"
    symbols: tuple[str, ...] = ("BTCUSDT",)
    interval: str = DEFAULT_INTERVAL
    bars: int | None = None
    fee_bps: float = _COSTS.fee_bps
    slippage_bps: float = _COSTS.slippage_bps
    fill: str = _EXECUTION.fill.value  # one of FillMode's values: close | next-open
    cash: float = _EXECUTION.cash  # finite, > 0
    leverage: float = DEFAULT_LEVERAGE  # in [1, MAX_LEVERAGE]
    history: int | None = None  # in [0, window]; None: DEFAULT_HISTORY, capped by window
    max_errors: int = DEFAULT_MAX_ERRORS
    window: int = DEFAULT_CAPACITY
    watch: bool = False
    journal: Path = DEFAULT_JOURNAL
    shadow: ShadowOptions | None = None
    binance_ws_url: str = DEFAULT_WS_URL
    binance_rest_url: str = DEFAULT_REST_URL

    def __post_init__(self) -> None:
        super().__post_init__()
        symbols: object = self.symbols  # "A,B" text is taken too, never split into letters
        text = symbols.split(",") if isinstance(symbols, str) else self.symbols
        _set(self, "symbols", _check_symbols(text))
        _set(self, "strategy_for", self._checked_strategy_for())
        check_spec(self.feed)
        try:
            parse_interval(self.interval)
        except ConfigError as exc:
            raise ConfigError(f"--interval: {exc}") from None
        if self.bars is not None:
            _whole("bars", self.bars, 1, MAX_RUN_BARS, " per symbol")
        _whole("max_errors", self.max_errors, 1, MAX_RUN_BARS)
        _whole("window", self.window, 2, MAX_WINDOW, " bars kept per symbol")
        for name in ("fee_bps", "slippage_bps"):
            value = _number(name, getattr(self, name))
            if not 0.0 <= value < BPS_LIMIT:  # NaN and inf fail
                raise ConfigError(f"{flag(name)} {value}: must be a finite number in [0, 10000)")
        _set(self, "journal", Path(self.journal))
        self._check_execution()
        if self.history is not None:
            _whole("history", self.history, 0, self.window, " bars (at most --window)")

    def _check_execution(self) -> None:
        fill: object = self.fill
        if not isinstance(fill, str) or fill not in FillMode._value2member_map_:
            choices = " or ".join(m.value for m in FillMode)
            raise ConfigError(f"--fill {fill!r}: must be {choices}")
        cash = _number("cash", self.cash)
        if not 0.0 < cash < math.inf:
            raise ConfigError(f"--cash {cash}: must be a finite number > 0 (the starting equity)")
        _set(self, "cash", cash)
        leverage = _number("leverage", self.leverage)
        if not 1.0 <= leverage <= MAX_LEVERAGE:
            raise ConfigError(f"--leverage {leverage}: must be in [1, {MAX_LEVERAGE:g}] "
                              "(1 = no borrowing)")
        _set(self, "leverage", leverage)

    def execution(self) -> Execution:
        """The machines' execution settings: fill mode, starting cash, leverage."""
        return Execution(FillMode(self.fill), self.cash, self.leverage)

    def history_bars(self) -> int:
        """The live warm-up: ``history``, or DEFAULT_HISTORY capped by the window."""
        return min(DEFAULT_HISTORY, self.window) if self.history is None else self.history

    def _checked_strategy_for(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for raw, file in self.strategy_for.items():
            symbol = str(raw).strip().upper()
            if symbol not in self.symbols:
                raise ConfigError(
                    f"--strategy-for {raw}={file}: {symbol} is not in --symbols "
                    f"({', '.join(self.symbols)}); add it there or drop the override"
                )
            out[symbol] = strategy_file(file)
        return out

    def strategy_paths(self) -> dict[str, Path]:
        """Symbol → strategy file: ``strategy`` unless ``strategy_for`` says otherwise."""
        return {s: self.strategy_for.get(s, self.strategy) for s in self.symbols}


def html_file(path: Path | str | None) -> Path | None:
    """The ``--html`` report file: its directory must exist and it must not be a directory
    (checked before a run, which should not fail at its end); ConfigError otherwise."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"--html {p}: is a directory; give a file name, e.g. {p / 'report.html'}")
    if not p.parent.is_dir():
        raise ConfigError(f"--html {p}: the directory {p.parent} does not exist; create it "
                          "or choose another path")
    return p


@dataclass(frozen=True, kw_only=True)
class RunOutput:
    """How the ``run`` command reports: the summary table, or one JSON line (``json``);
    ``html``: also write the run's HTML report to this file at its end."""

    json: bool = False
    html: Path | None = None

    def __post_init__(self) -> None:
        _set(self, "html", html_file(self.html))


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    """``report``: the run ``run_id`` (None: the latest) of ``journal``; ``html`` writes
    the HTML report there, ``json`` prints the statistics as one JSON object. With
    ``sweep`` the sweep of that id is reported instead (0: the latest sweep)."""

    run_id: int | None = None
    sweep: int | None = None
    journal: Path = DEFAULT_JOURNAL
    html: Path | None = None
    json: bool = False

    def __post_init__(self) -> None:
        rid = self.run_id
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int) or rid < 1):
            raise ConfigError(f"RUN_ID {rid!r}: must be a run id, a whole number >= 1")
        sid = self.sweep
        if sid is not None and (isinstance(sid, bool) or not isinstance(sid, int) or sid < 0):
            raise ConfigError(f"--sweep {sid!r}: must be a sweep id, a whole number >= 1")
        if sid is not None and rid is not None:
            raise ConfigError(f"RUN_ID {rid} and --sweep {sid}: report a run or a sweep, "
                              "not both")
        _set(self, "journal", Path(self.journal))
        _set(self, "html", html_file(self.html))


@dataclass(frozen=True, kw_only=True)
class CheckConfig(StrategyOptions):
    """``check``: the strategy over ``bars`` simulated bars of seed ``seed``."""

    bars: int = 2000

    def __post_init__(self) -> None:
        super().__post_init__()
        _whole("bars", self.bars, 1, MAX_CHECK_BARS)


@dataclass(frozen=True, kw_only=True)
class VerifyConfig:
    """``verify``: every indicator (or those named in ``indicators``, "a,b") over ``data``
    (a CSV file) or ``bars`` simulated bars of seed ``seed``; ``json`` prints JSON."""

    data: Path | None = None
    bars: int = 100_000
    seed: int = DEFAULT_SEED
    indicators: str | None = None
    json: bool = False

    def __post_init__(self) -> None:
        _check_seed(self.seed)
        _whole("bars", self.bars, 1, MAX_CHECK_BARS)
        if self.data is not None:
            _set(self, "data", Path(self.data))


def _set(config: object, name: str, value: object) -> None:
    """Normalise a field of a frozen config while it is being built."""
    object.__setattr__(config, name, value)


# -- command-line text → config values -------------------------------------------------


def parse_symbols(text: str) -> tuple[str, ...]:
    """``"btcusdt, ETHUSDT"`` → ``("BTCUSDT", "ETHUSDT")`` (upper-cased, unique, in order)."""
    return _check_symbols(text.split(","))


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` → ``{"fast": "10", "slow": "30"}``.

    Values stay text: the strategy converts them to the type of the default
    declared in its ``params`` table (and rejects unknown names).
    """
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not _PARAM_NAME.fullmatch(name):
            raise ConfigError(f"--param {item!r}: expected NAME=VALUE, e.g. --param fast=10")
        if name in params:
            raise ConfigError(f"--param {name} is given twice")
        params[name] = value.strip()
    return params


def parse_strategy_for(items: Sequence[str]) -> dict[str, Path]:
    """``["ETHUSDT=eth.lua"]`` → ``{"ETHUSDT": Path("eth.lua")}`` (the files and symbols
    are checked by RunConfig)."""
    out: dict[str, Path] = {}
    for item in items:
        symbol, sep, file = item.partition("=")
        symbol = symbol.strip().upper()
        if not sep or not symbol or not file.strip():
            raise ConfigError(f"--strategy-for {item!r}: expected SYMBOL=FILE")
        if symbol in out:
            raise ConfigError(f"--strategy-for {symbol} is given twice")
        out[symbol] = Path(file.strip())
    return out
