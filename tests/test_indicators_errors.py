"""Every kind of bad input to an indicator raises IndicatorError naming the argument."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest

import engine.indicators as ind
from engine.errors import IndicatorError
from engine.indicators import streaming
from engine.indicators.registry import SPECS, IndicatorSpec, spec_for

NAMES = sorted(SPECS)


def _call(spec: IndicatorSpec, override: Mapping[str, object], size: int = 50) -> object:
    """``spec``'s batch function on 50-value inputs and default parameters, except
    for the inputs and parameters named in ``override``."""
    args: list[object] = [override.get(i, np.linspace(10.0, 20.0, size)) for i in spec.inputs]
    params = [override.get(p.name, p.default) for p in spec.params]
    return spec.batch(*args, *params)


def _arg_name(spec: IndicatorSpec, field: str) -> str:
    """The batch function's name for an input (close-only functions call it 'x')."""
    names = list(inspect.signature(spec.batch).parameters)
    return names[spec.inputs.index(field)]


def _raises(func: Callable[[], object], *fragments: str) -> None:
    with pytest.raises(IndicatorError) as info:
        func()
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input(name: str, bad: float) -> None:
    spec = SPECS[name]
    for field in spec.inputs:
        values = np.linspace(10.0, 20.0, 50)
        values[7] = bad
        arg = _arg_name(spec, field)
        _raises(partial(_call, spec, {field: values}), f"'{arg}'", "index 7")


@pytest.mark.parametrize("name", NAMES)
def test_two_dimensional_input(name: str) -> None:
    spec = SPECS[name]
    field = spec.inputs[-1]
    arg = _arg_name(spec, field)
    _raises(lambda: _call(spec, {field: np.ones((10, 2))}), f"'{arg}'", "1-D", "(10, 2)")


@pytest.mark.parametrize("name", NAMES)
def test_not_numbers(name: str) -> None:
    spec = SPECS[name]
    field = spec.inputs[0]
    _raises(lambda: _call(spec, {field: ["a", "b"]}), f"'{_arg_name(spec, field)}'")


@pytest.mark.parametrize("name", NAMES)
def test_complex_input_is_refused_not_truncated(name: str) -> None:
    # numpy's float64 cast would silently drop the imaginary part.
    spec = SPECS[name]
    field = spec.inputs[0]
    values = np.linspace(10.0, 20.0, 50) + 1j
    _raises(lambda: _call(spec, {field: values}), f"'{_arg_name(spec, field)}'", "complex")


@pytest.mark.parametrize("name", [n for n in NAMES if len(SPECS[n].inputs) > 1])
def test_length_mismatch(name: str) -> None:
    spec = SPECS[name]
    field = spec.inputs[-1]
    _raises(lambda: _call(spec, {field: np.ones(49)}), "same length", f"{field}=49")


def _bad_values(minimum: float, maximum: float, kind: str) -> list[object]:
    values: list[object] = [minimum - 1, maximum + 1] if kind == "int" else [1e38, -1e38]
    values += ["3", None, np.nan] if kind == "float" else [2.5, "3", True, None]
    return values


@pytest.mark.parametrize("name", NAMES)
def test_parameters_out_of_range(name: str) -> None:
    spec = SPECS[name]
    for p in spec.params:
        for value in _bad_values(p.minimum, p.maximum, p.kind):
            _raises(partial(_call, spec, {p.name: value}), f"'{p.name}'")
            _raises(partial(spec.stream, **{p.name: value}), f"'{p.name}'")


def test_talib_ranges_accept_the_bounds() -> None:
    x = np.linspace(1.0, 2.0, 10)
    assert np.allclose(ind.sma(x, 1), x)
    assert np.isnan(ind.rsi(x, 100_000)).all()
    assert ind.bollinger(x, 2, -3e37, 3e37).upper.shape == (10,)


def test_streaming_rejects_bad_updates() -> None:
    _raises(lambda: streaming.RsiStream().update(float("nan")), "rsi", "'close'", "nan")
    _raises(lambda: streaming.AtrStream().update(101.0), "atr", "high, low, close")
    _raises(lambda: streaming.AtrStream(3).update(SimpleNamespace(close=1.0)), "atr", ".high")
    _raises(lambda: streaming.SmaStream(3).update(SimpleNamespace(high=1.0)), "sma", ".close")
    bar = SimpleNamespace(high=2.0, low=1.0, close=float("inf"), volume=1.0)
    _raises(lambda: streaming.MfiStream().update(bar), "'close'", "inf")


def test_create_rejects_bad_requests() -> None:
    _raises(lambda: streaming.create("rsx"), "unknown indicator", "did you mean 'rsi'")
    _raises(lambda: streaming.create("rsi", {"periods": 3}), "unknown parameter 'periods'")
    _raises(lambda: streaming.create("rsi", (3, 4)), "at most 1 parameters")
    _raises(lambda: streaming.create("rsi", {"period": 1}), "'period'", "[2, 100000]")
    _raises(lambda: streaming.create("atr", None, {"close": [1.0, 2.0]}), "lacks 'high'")
    history = {"high": [2.0, 2.0], "low": [1.0], "close": [1.5, 1.5]}
    _raises(lambda: streaming.create("atr", None, history), "same length")
    _raises(lambda: spec_for("nope"), "unknown indicator 'nope'")
