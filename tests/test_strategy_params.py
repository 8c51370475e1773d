"""Strategy parameters: ``params = {...}`` defaults and ``--param`` overrides."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_strategy_support import Harness, load

from engine.errors import ConfigError, StrategyError
from engine.run.config import parse_params
from engine.strategy.params import apply_overrides, convert

SRC = """
params = { fast = 20, ratio = 0.5, mode = "trend", short = false }
local fast_at_load = params.fast
function detect_opportunity()
  return { fast = params.fast, at_load = fast_at_load, ratio = params.ratio,
           mode = params.mode, short = params.short }
end
"""


def context_after_one_bar(tmp_path: Path, overrides: dict[str, str]) -> dict[str, object]:
    h = Harness(load(tmp_path, SRC, params=overrides))
    h.next()
    return dict(h.machine.context)


def test_defaults_without_overrides(tmp_path: Path) -> None:
    strategy = load(tmp_path, SRC)
    assert strategy.params == {"fast": 20, "ratio": 0.5, "mode": "trend", "short": False}


def test_overrides_are_typed_and_seen_even_at_load_time(tmp_path: Path) -> None:
    got = context_after_one_bar(
        tmp_path, {"fast": "10", "ratio": "2", "mode": "range", "short": "true"}
    )
    assert got == {"fast": 10, "at_load": 10, "ratio": 2.0, "mode": "range", "short": True}
    assert type(got["fast"]) is int and type(got["ratio"]) is float


def test_effective_params_are_reported(tmp_path: Path) -> None:
    strategy = load(tmp_path, SRC, params={"fast": "7"})
    assert strategy.params == {"fast": 7, "ratio": 0.5, "mode": "trend", "short": False}


@pytest.mark.parametrize("name,text,expected", [
    ("fast", "ten", "is not an integer"),
    ("fast", "10.5", "is not an integer"),
    ("ratio", "abc", "is not a finite number"),
    ("ratio", "inf", "is not a finite number"),
    ("short", "maybe", "is not true or false"),
])
def test_mistyped_override_is_an_error(tmp_path: Path, name: str, text: str, expected: str) -> None:
    with pytest.raises(StrategyError) as info:
        load(tmp_path, SRC, params={name: text})
    assert f"parameter {name!r}: {text!r} {expected}" in str(info.value)
    assert "strat.lua:2" in str(info.value)  # the line declaring params


def test_unknown_override_suggests_the_closest_name(tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match=r"unknown parameter 'fats' \(did you mean 'fast'\?\)"):
        load(tmp_path, SRC, params={"fats": "10"})


def test_override_without_a_params_table(tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match=r"unknown parameter 'fast'.*declared parameters: none"):
        load(tmp_path, "", params={"fast": "10"})


@pytest.mark.parametrize("decl,expected", [
    ("params = 5", "params must be a table"),
    ("params = { fast = {} }", "params.fast: parameters must be named numbers"),
    ("params = { 10 }", "params.1: parameters must be named numbers"),
])
def test_malformed_params_table(tmp_path: Path, decl: str, expected: str) -> None:
    with pytest.raises(StrategyError, match=expected):
        load(tmp_path, decl + "\n")


def test_parse_params() -> None:
    # the one parser of --param, for run and check alike
    assert parse_params(["fast=10", " slow = 50 ", "note=a=b"]) == {
        "fast": "10", "slow": "50", "note": "a=b"}
    for bad in ("fast", "=3"):
        with pytest.raises(ConfigError, match="expected NAME=VALUE"):
            parse_params([bad])
    with pytest.raises(ConfigError, match="--param fast is given twice"):
        parse_params(["fast=1", "fast=2"])


def test_convert_accepts_typed_values_of_the_default_s_type() -> None:
    # what a Python caller passes in RunConfig(params=...)
    assert convert("n", 3, 7) == 7
    assert convert("x", 1.0, 2) == 2.0 and isinstance(convert("x", 1.0, 2), float)
    assert convert("b", False, True) is True
    assert convert("s", "a", "b") == "b"
    for default, value, expected in ((3, 2.5, "an integer"), (3, True, "an integer"),
                                     (1.0, math.inf, "a finite number"),
                                     (True, 1, "true or false"), ("a", 1, "str")):
        with pytest.raises(StrategyError, match=f"is not {expected}"):
            convert("p", default, value)


def test_convert_keeps_the_default_type() -> None:
    assert convert("n", 3, "-4") == -4
    assert convert("x", 1.0, "1e-3") == 0.001
    assert convert("b", True, "off") is False
    assert convert("s", "a", " padded ") == " padded "


def test_apply_overrides_only_returns_overridden_values() -> None:
    assert apply_overrides({"a": 1, "b": 2.0}, {"b": "3"}, "f.lua") == {"b": 3.0}
