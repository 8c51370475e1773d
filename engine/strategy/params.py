"""Strategy parameters: ``params = {...}`` defaults in the script, ``--param k=v`` overrides."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from engine.errors import StrategyError
from engine.state.actions import suggest

ParamValue = int | float | str | bool

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """Turn ``["fast=10", "mode=trend"]`` (``--param`` values) into a dict.

    Raises StrategyError for an item without ``=`` or with an empty name.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise StrategyError(f"--param {item!r}: expected NAME=VALUE, e.g. --param fast=10")
        out[name] = value.strip()
    return out


def convert(name: str, default: ParamValue, text: str) -> ParamValue:
    """Parse override ``text`` with the type of ``default`` or raise StrategyError."""
    kind = type(default).__name__ if not isinstance(default, bool) else "boolean"
    try:
        if isinstance(default, bool):
            low = text.lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError(text)
        if isinstance(default, int):
            return int(text, 10)
        if isinstance(default, float):
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
        return text
    except ValueError:
        expected = {"int": "an integer", "float": "a finite number",
                    "boolean": "true or false"}.get(kind, kind)
        raise StrategyError(
            f"parameter {name!r}: {text!r} is not {expected} "
            f"(the default is {default!r})"
        ) from None


def apply_overrides(
    defaults: Mapping[str, ParamValue], overrides: Mapping[str, str], source: str
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
