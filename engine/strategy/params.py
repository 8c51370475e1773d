"""Strategy parameters: ``params = {...}`` defaults in the script, ``--param k=v`` overrides
(parsed by ``engine.run.config.parse_params``) or typed values from Python."""

from __future__ import annotations

import math
from collections.abc import Mapping

from engine.errors import StrategyError
from engine.state.actions import suggest

ParamValue = int | float | str | bool

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def convert(name: str, default: ParamValue, value: ParamValue) -> ParamValue:
    """``value`` with the type of ``default``, or raise StrategyError.

    Text (``--param fast=10``) is parsed; a typed value (``{"fast": 10}`` from
    Python) must already have the default's type (an int is accepted for a float).
    """
    kind = type(default).__name__ if not isinstance(default, bool) else "boolean"
    try:
        if not isinstance(value, str):
            return _typed(default, value)
        if isinstance(default, bool):
            low = value.lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError(value)
        if isinstance(default, int):
            return int(value, 10)
        if isinstance(default, float):
            return _finite(float(value))
        return value
    except ValueError:
        expected = {"int": "an integer", "float": "a finite number",
                    "boolean": "true or false"}.get(kind, kind)
        raise StrategyError(
            f"parameter {name!r}: {value!r} is not {expected} "
            f"(the default is {default!r})"
        ) from None


def _typed(default: ParamValue, value: ParamValue) -> ParamValue:
    """A non-text override of the default's type; ValueError otherwise."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):  # an int for a float; never a bool for a number
        ok = isinstance(value, int if isinstance(default, int) else int | float)
        ok = ok and not isinstance(value, bool)
    else:
        ok = False  # a text default takes text only
    if not ok:
        raise ValueError(value)
    return _finite(float(value)) if isinstance(default, float) else value


def _finite(number: float) -> float:
    if not math.isfinite(number):
        raise ValueError(number)
    return number


def apply_overrides(
    defaults: Mapping[str, ParamValue], overrides: Mapping[str, ParamValue], source: str
) -> dict[str, ParamValue]:
    """The overridden values, typed like their defaults.

    An override naming no declared parameter is a StrategyError with a
    "did you mean" suggestion.
    """
    out: dict[str, ParamValue] = {}
    for name, text in overrides.items():
        if name not in defaults:
            declared = ", ".join(sorted(defaults)) or "none"
            raise StrategyError(
                f"{source}: unknown parameter {name!r}{suggest(name, defaults)}; "
                f"declared parameters: {declared}"
            )
        out[name] = convert(name, defaults[name], text)
    return out
