"""The indicator catalogue: one IndicatorSpec per indicator, keyed by lower-case name.

Used by the Lua IndicatorApi, the OCaml bridge, the verification harness and
shadow mode to call indicators generically: inputs, parameters with their
defaults and TA-Lib's allowed ranges, outputs, tolerance kind (docs/design.md §3),
the batch function, the stream factory, the lookback, and the TA-Lib twin.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from engine.errors import IndicatorError
from engine.indicators import batch
from engine.indicators._validate import MAX_NBDEV, MAX_PERIOD, check_period, check_real
from engine.indicators.streaming import (
    AdxStream,
    AtrStream,
    BollingerStream,
    CciStream,
    EmaStream,
    MacdStream,
    MfiStream,
    MomStream,
    ObvStream,
    RocStream,
    RsiStream,
    SmaStream,
    StochStream,
    Stream,
    WillrStream,
    WmaStream,
)

ParamValue = int | float
Tolerance = Literal["price", "oscillator", "cci"]


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
        """Return `value` converted and range-checked, or raise IndicatorError."""
        if self.kind == "int":
            return check_period(func, self.name, value, int(self.minimum))
        return check_real(func, self.name, value, float(self.maximum))


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """Everything needed to call, stream, size and cross-check one indicator."""

    name: str
    inputs: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    outputs: tuple[str, ...]
    tolerance: Tolerance
    batch: Callable[..., object]
    stream: Callable[..., Stream]
    lookback_fn: Callable[..., int]
    talib_name: str
    talib_fixed: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

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

    def talib_kwargs(self, *params: ParamValue) -> dict[str, ParamValue]:
        """Keyword arguments for the TA-Lib twin (talib.abstract / talib.func)."""
        values = self.resolve(params)
        pairs = zip(self.params, values, strict=True)
        kwargs: dict[str, ParamValue] = {p.talib_name: v for p, v in pairs}
        kwargs.update(self.talib_fixed)
        return kwargs


def _period(default: int, minimum: int, name: str = "period") -> ParamSpec:
    talib = "timeperiod" if name == "period" else name
    return ParamSpec(name, "int", default, minimum, MAX_PERIOD, talib)


def _macd_lookback(fast: int, slow: int, signal: int) -> int:
    return max(fast, slow) - 1 + signal - 1


_CLOSE = ("close",)
_HLC = ("high", "low", "close")
_VALUE = ("value",)


def _specs() -> dict[str, IndicatorSpec]:
    minus_one: Callable[[int], int] = lambda n: n - 1  # noqa: E731
    same: Callable[[int], int] = lambda n: n  # noqa: E731
    specs = [
        IndicatorSpec("sma", _CLOSE, (_period(30, 1),), _VALUE, "price",
                      batch.sma, SmaStream, minus_one, "SMA"),
        IndicatorSpec("ema", _CLOSE, (_period(30, 1),), _VALUE, "price",
                      batch.ema, EmaStream, minus_one, "EMA"),
        IndicatorSpec("wma", _CLOSE, (_period(30, 1),), _VALUE, "price",
                      batch.wma, WmaStream, minus_one, "WMA"),
        IndicatorSpec("rsi", _CLOSE, (_period(14, 2),), _VALUE, "oscillator",
                      batch.rsi, RsiStream, same, "RSI"),
        IndicatorSpec(
            "macd", _CLOSE,
            (ParamSpec("fast", "int", 12, 2, MAX_PERIOD, "fastperiod"),
             ParamSpec("slow", "int", 26, 2, MAX_PERIOD, "slowperiod"),
             ParamSpec("signal", "int", 9, 1, MAX_PERIOD, "signalperiod")),
            ("macd", "signal", "histogram"), "price",
            batch.macd, MacdStream, _macd_lookback, "MACD"),
        IndicatorSpec(
            "bollinger", _CLOSE,
            (_period(20, 2),
             ParamSpec("nbdev_up", "float", 2.0, -MAX_NBDEV, MAX_NBDEV, "nbdevup"),
             ParamSpec("nbdev_down", "float", 2.0, -MAX_NBDEV, MAX_NBDEV, "nbdevdn")),
            ("upper", "middle", "lower"), "price",
            batch.bollinger, BollingerStream, lambda n, _u, _d: n - 1, "BBANDS",
            MappingProxyType({"matype": 0})),
        IndicatorSpec("atr", _HLC, (_period(14, 1),), _VALUE, "price",
                      batch.atr, AtrStream, same, "ATR"),
        IndicatorSpec(
            "stoch", _HLC,
            (ParamSpec("fastk", "int", 5, 1, MAX_PERIOD, "fastk_period"),
             ParamSpec("slowk", "int", 3, 1, MAX_PERIOD, "slowk_period"),
             ParamSpec("slowd", "int", 3, 1, MAX_PERIOD, "slowd_period")),
            ("k", "d"), "oscillator",
            batch.stoch, StochStream, lambda f, k, d: f + k + d - 3, "STOCH",
            MappingProxyType({"slowk_matype": 0, "slowd_matype": 0})),
        IndicatorSpec("willr", _HLC, (_period(14, 2),), _VALUE, "oscillator",
                      batch.willr, WillrStream, minus_one, "WILLR"),
        IndicatorSpec("cci", _HLC, (_period(14, 2),), _VALUE, "cci",
                      batch.cci, CciStream, minus_one, "CCI"),
        IndicatorSpec("adx", _HLC, (_period(14, 2),), _VALUE, "oscillator",
                      batch.adx, AdxStream, lambda n: 2 * n - 1, "ADX"),
        IndicatorSpec("mfi", (*_HLC, "volume"), (_period(14, 2),), _VALUE, "oscillator",
                      batch.mfi, MfiStream, same, "MFI"),
        IndicatorSpec("obv", ("close", "volume"), (), _VALUE, "price",
                      batch.obv, ObvStream, lambda: 0, "OBV"),
        IndicatorSpec("roc", _CLOSE, (_period(10, 1),), _VALUE, "price",
                      batch.roc, RocStream, same, "ROC"),
        IndicatorSpec("mom", _CLOSE, (_period(10, 1),), _VALUE, "price",
                      batch.mom, MomStream, same, "MOM"),
    ]
    return {s.name: s for s in specs}


SPECS: Mapping[str, IndicatorSpec] = MappingProxyType(_specs())
"""The 15 indicators of docs/design.md §3, read-only, keyed by lower-case name."""


def spec_for(name: str) -> IndicatorSpec:
    """The spec of `name` (case-insensitive), or IndicatorError with a suggestion."""
    spec = SPECS.get(name.lower()) if isinstance(name, str) else None
    if spec is None:
        close = difflib.get_close_matches(str(name).lower(), list(SPECS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise IndicatorError(
            f"unknown indicator {name!r}{hint} (known: {', '.join(sorted(SPECS))})"
        )
    return spec
