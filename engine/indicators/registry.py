"""The indicator registry: the one table of indicator facts, keyed by lower-case name.

One ``IndicatorSpec`` per indicator holds everything the rest of Tandem needs
to know about it: a title, its inputs, its parameters (defaults and TA-Lib's
inclusive ranges), its outputs (and, for several, the NamedTuple the batch
function returns), the tolerance kind of the agreement contract, the lookback,
its TA-Lib twin with the keyword names, its Lua name, and where its batch
function and stream live. The batch functions and stream constructors check
their parameters here (``ParamSpec.check``); the agreement contract, the Lua
``indicators`` table, the OCaml bridge, the verification harness, shadow mode
and the docs' indicator table all read this table.

This module is pure data: it imports no implementation. ``IndicatorSpec.batch``
and ``IndicatorSpec.stream`` import theirs by module path when first used, so
the implementations can import their specs from here without an import cycle.

Adding an indicator: the recipe is docs/design.md §11.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from engine.errors import IndicatorError
from engine.indicators._validate import MAX_NBDEV, MAX_PERIOD, check_period, check_real

if TYPE_CHECKING:
    from engine.indicators.streaming_base import Stream

FloatArray = npt.NDArray[np.float64]
ParamValue = int | float
Tolerance = Literal["price", "oscillator", "cci"]
"""The bound of the agreement contract an indicator is held to (engine.indicators.contract)."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: name, kind, default and TA-Lib's inclusive range."""

    name: str
    kind: Literal["int", "float"]
    default: ParamValue
    minimum: ParamValue
    maximum: ParamValue
    talib_name: str

    def check(self, func: str, value: object) -> ParamValue:
        """Return `value` converted and range-checked, or raise IndicatorError naming
        `func`, the parameter, the value and the valid range."""
        if self.kind == "int":
            return check_period(func, self.name, value, int(self.minimum), int(self.maximum))
        return check_real(func, self.name, value, float(self.maximum))


@dataclass(frozen=True, slots=True)
class TalibTwin:
    """The TA-Lib function an indicator reproduces, and the keywords it fixes
    (SMA smoothing for BBANDS and STOCH); the others are ``ParamSpec.talib_name``."""

    function: str
    fixed: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """Everything needed to call, stream, size, expose and cross-check one indicator.

    ``batch`` and ``stream`` name the implementations as ``"module:attribute"``
    inside ``engine.indicators``; ``result`` is the NamedTuple of a multi-output
    indicator (its fields are the outputs), None for one output named "value".
    """

    name: str
    title: str
    inputs: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    tolerance: Tolerance
    lookback_fn: Callable[..., int]
    talib: TalibTwin
    batch_path: str
    stream_path: str
    result: type[tuple[Any, ...]] | None = None
    lua_name: str = ""

    @property
    def outputs(self) -> tuple[str, ...]:
        """Output names, in the order the batch function and the stream return them."""
        fields: tuple[str, ...] | None = getattr(self.result, "_fields", None)
        return fields if fields else ("value",)

    @property
    def lua(self) -> str:
        """The name of ``indicators.<name>`` in Lua."""
        return self.lua_name or self.name

    @property
    def batch(self) -> Callable[..., Any]:
        """The batch function: ``batch(*inputs, *params)``."""
        return _resolve(self.batch_path)  # type: ignore[no-any-return]

    @property
    def stream(self) -> Callable[..., Stream]:
        """The stream class: ``stream(*params)``."""
        return _resolve(self.stream_path)  # type: ignore[no-any-return]

    @property
    def talib_name(self) -> str:
        """The TA-Lib function's name, e.g. "BBANDS"."""
        return self.talib.function

    def param(self, name: str) -> ParamSpec:
        """The parameter called ``name`` (KeyError for a name the spec lacks)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}")

    def check_int(self, name: str, value: object) -> int:
        """``value`` of the integer parameter ``name``, checked (``ParamSpec.check``)."""
        checked = self.param(name).check(self.name, value)
        assert isinstance(checked, int), f"{self.name}: {name} is not an integer parameter"
        return checked

    def check_float(self, name: str, value: object) -> float:
        """``value`` of the real parameter ``name``, checked (``ParamSpec.check``)."""
        return float(self.param(name).check(self.name, value))

    def lookback(self, *params: ParamValue) -> int:
        """Number of leading NaN outputs for these parameters (defaults if omitted)."""
        return self.lookback_fn(*self.resolve(params))

    def defaults(self) -> tuple[ParamValue, ...]:
        """The default parameter values, in order."""
        return tuple(p.default for p in self.params)

    def resolve(self, params: Mapping[str, object] | Sequence[object] | None) -> tuple[
        ParamValue, ...
    ]:
        """Parameters by name or position -> full, checked tuple (defaults fill gaps)."""
        if params is None:
            return self.defaults()
        if isinstance(params, Mapping):
            return self._resolve_named(params)
        values = tuple(params)
        if len(values) > len(self.params):
            raise IndicatorError(
                f"{self.name}: takes at most {len(self.params)} parameters "
                f"({self.signature()}), got {len(values)}: {values!r}"
            )
        return tuple(
            p.check(self.name, values[i]) if i < len(values) else p.default
            for i, p in enumerate(self.params)
        )

    def _resolve_named(self, params: Mapping[str, object]) -> tuple[ParamValue, ...]:
        known = {p.name for p in self.params}
        for key in params:
            if key not in known:
                raise IndicatorError(
                    f"{self.name}: unknown parameter {key!r} (parameters: {self.signature()})"
                )
        return tuple(
            p.check(self.name, params[p.name]) if p.name in params else p.default
            for p in self.params
        )

    def signature(self) -> str:
        """Human-readable parameter list, e.g. 'period=14 in [2, 100000]'."""
        parts = [f"{p.name}={p.default} in [{p.minimum:g}, {p.maximum:g}]" for p in self.params]
        return ", ".join(parts) or "none"

    def talib_kwargs(self, *params: object) -> dict[str, Any]:
        """Keyword arguments for the TA-Lib twin (``talib.func``): ``params`` as given
        (unchecked: the twin judges them itself), defaults for the missing ones."""
        if len(params) > len(self.params):
            raise IndicatorError(
                f"{self.name}: takes at most {len(self.params)} parameters, got {len(params)}"
            )
        values = (*params, *self.defaults()[len(params) :])
        kwargs: dict[str, Any] = {p.talib_name: v for p, v in zip(self.params, values, strict=True)}
        kwargs.update(self.talib.fixed)
        return kwargs


def _resolve(path: str) -> Any:
    """``"module:attribute"`` inside engine.indicators -> the attribute (late binding)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(f"engine.indicators.{module}"), attr)


def _period(default: int, minimum: int) -> ParamSpec:
    return ParamSpec("period", "int", default, minimum, MAX_PERIOD, "timeperiod")


def _int(name: str, default: int, minimum: int, talib: str) -> ParamSpec:
    return ParamSpec(name, "int", default, minimum, MAX_PERIOD, talib)


def _nbdev(name: str, talib: str) -> ParamSpec:
    return ParamSpec(name, "float", 2.0, -MAX_NBDEV, MAX_NBDEV, talib)


def _macd_lookback(fast: int, slow: int, signal: int) -> int:
    return max(fast, slow) - 1 + signal - 1


class Macd(NamedTuple):
    """MACD outputs: the MACD line, its signal line and their difference."""

    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


class Bands(NamedTuple):
    """Bollinger Bands outputs."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


class Stoch(NamedTuple):
    """Slow stochastic outputs (%K and %D)."""

    k: FloatArray
    d: FloatArray


_CLOSE = ("close",)
_HLC = ("high", "low", "close")


def _minus_one(n: int) -> int:
    return n - 1


def _same(n: int) -> int:
    return n


def _specs() -> tuple[IndicatorSpec, ...]:
    twin = TalibTwin
    return (
        IndicatorSpec("sma", "simple moving average", _CLOSE, (_period(30, 1),), "price",
                      _minus_one, twin("SMA"), "batch_averages:sma", "streaming_close:SmaStream"),
        IndicatorSpec("ema", "exponential moving average", _CLOSE, (_period(30, 1),), "price",
                      _minus_one, twin("EMA"), "batch_averages:ema", "streaming_close:EmaStream"),
        IndicatorSpec("wma", "weighted moving average", _CLOSE, (_period(30, 1),), "price",
                      _minus_one, twin("WMA"), "batch_averages:wma", "streaming_close:WmaStream"),
        IndicatorSpec("rsi", "relative strength index, 0..100", _CLOSE, (_period(14, 2),),
                      "oscillator", _same, twin("RSI"),
                      "batch_momentum:rsi", "streaming_close:RsiStream"),
        IndicatorSpec(
            "macd", "moving average convergence/divergence", _CLOSE,
            (_int("fast", 12, 2, "fastperiod"), _int("slow", 26, 2, "slowperiod"),
             _int("signal", 9, 1, "signalperiod")),
            "price", _macd_lookback, twin("MACD"),
            "batch_averages:macd", "streaming_close:MacdStream", Macd),
        IndicatorSpec(
            "bollinger", "Bollinger bands", _CLOSE,
            (_period(20, 2), _nbdev("nbdev_up", "nbdevup"), _nbdev("nbdev_down", "nbdevdn")),
            "price", lambda n, _u, _d: n - 1, twin("BBANDS", MappingProxyType({"matype": 0})),
            "batch_averages:bollinger", "streaming_close:BollingerStream", Bands),
        IndicatorSpec("atr", "average true range", _HLC, (_period(14, 1),), "price",
                      _same, twin("ATR"), "batch_volatility:atr", "streaming_hlc:AtrStream"),
        IndicatorSpec(
            "stoch", "slow stochastic, 0..100", _HLC,
            (_int("fastk", 5, 1, "fastk_period"), _int("slowk", 3, 1, "slowk_period"),
             _int("slowd", 3, 1, "slowd_period")),
            "oscillator", lambda f, k, d: f + k + d - 3,
            twin("STOCH", MappingProxyType({"slowk_matype": 0, "slowd_matype": 0})),
            "batch_momentum:stoch", "streaming_hlc:StochStream", Stoch),
        IndicatorSpec("willr", "Williams' %R, -100..0", _HLC, (_period(14, 2),), "oscillator",
                      _minus_one, twin("WILLR"),
                      "batch_momentum:willr", "streaming_hlc:WillrStream"),
        IndicatorSpec("cci", "commodity channel index", _HLC, (_period(14, 2),), "cci",
                      _minus_one, twin("CCI"), "batch_momentum:cci", "streaming_hlc:CciStream"),
        IndicatorSpec("adx", "average directional index, 0..100", _HLC, (_period(14, 2),),
                      "oscillator", lambda n: 2 * n - 1, twin("ADX"),
                      "batch_volatility:adx", "streaming_hlc:AdxStream"),
        IndicatorSpec("mfi", "money flow index, 0..100", (*_HLC, "volume"), (_period(14, 2),),
                      "oscillator", _same, twin("MFI"),
                      "batch_momentum:mfi", "streaming_hlc:MfiStream"),
        IndicatorSpec("obv", "on-balance volume", ("close", "volume"), (), "price",
                      lambda: 0, twin("OBV"), "batch_volatility:obv", "streaming_hlc:ObvStream"),
        IndicatorSpec("roc", "rate of change, percent", _CLOSE, (_period(10, 1),), "price",
                      _same, twin("ROC"), "batch_momentum:roc", "streaming_close:RocStream"),
        IndicatorSpec("mom", "momentum, x[t] - x[t-period]", _CLOSE, (_period(10, 1),),
                      "price", _same, twin("MOM"),
                      "batch_momentum:mom", "streaming_close:MomStream"),
        IndicatorSpec("highest", "highest high of the last period bars", ("high",),
                      (_period(30, 2),), "price", _minus_one, twin("MAX"),
                      "batch_statistics:highest", "streaming_hlc:HighestStream"),
        IndicatorSpec("lowest", "lowest low of the last period bars", ("low",),
                      (_period(30, 2),), "price", _minus_one, twin("MIN"),
                      "batch_statistics:lowest", "streaming_hlc:LowestStream"),
        IndicatorSpec("stddev", "standard deviation (population) times nbdev", _CLOSE,
                      (_period(5, 2), ParamSpec("nbdev", "float", 1.0, -MAX_NBDEV, MAX_NBDEV,
                                                "nbdev")),
                      "price", lambda n, _d: n - 1, twin("STDDEV"),
                      "batch_statistics:stddev", "streaming_close:StddevStream"),
    )


SPECS: Mapping[str, IndicatorSpec] = MappingProxyType({s.name: s for s in _specs()})
"""Every indicator, read-only, keyed by lower-case name (in documentation order)."""


def spec_for(name: str) -> IndicatorSpec:
    """The spec of `name` (case-insensitive), or IndicatorError with a suggestion."""
    spec = SPECS.get(name.lower()) if isinstance(name, str) else None
    if spec is None:
        import difflib  # here: only an unknown name needs it (≈ 2 ms of start-up)

        close = difflib.get_close_matches(str(name).lower(), list(SPECS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise IndicatorError(
            f"unknown indicator {name!r}{hint} (known: {', '.join(sorted(SPECS))})"
        )
    return spec
