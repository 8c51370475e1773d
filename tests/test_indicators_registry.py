"""The registry describes every indicator exactly as the batch functions and TA-Lib do."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import talib.abstract
from indicator_cases import PARAMS, walk

import engine.indicators as ind
from engine.errors import IndicatorError
from engine.indicators.registry import SPECS, ParamSpec

DESIGN_DEFAULTS = {  # docs/design.md §3 signatures
    "rsi": (14,), "macd": (12, 26, 9), "bollinger": (20, 2.0, 2.0), "atr": (14,),
    "stoch": (5, 3, 3), "willr": (14,), "cci": (14,), "adx": (14,), "mfi": (14,),
    "obv": (), "roc": (10,), "mom": (10,),
}


def test_the_designed_indicators_are_registered_read_only() -> None:
    assert set(SPECS) >= {"sma", "ema", "wma", "rsi", "macd", "bollinger", "atr", "stoch",
                          "willr", "cci", "adx", "mfi", "obv", "roc", "mom"}
    with pytest.raises(TypeError):
        SPECS["sma"] = SPECS["ema"]  # type: ignore[index]
    for name, spec in SPECS.items():
        assert spec.name == name
        assert spec.batch is getattr(ind, name)  # every registry indicator is public


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_stream_is_tied_to_its_own_entry(name: str) -> None:
    spec = SPECS[name]
    stream = spec.stream(*spec.defaults())
    assert stream.spec is spec and stream.name == name and stream.inputs == spec.inputs
    assert 0 < len(spec.outputs) <= 3 and len(spec.params) <= 3  # the Lua prelude's limits
    assert spec.inputs and set(spec.inputs) <= {"high", "low", "close", "volume"}



@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_stream_reads_bars_with_only_its_inputs(name: str) -> None:
    """update() needs nothing but the registry's inputs; a bare number only for close-only."""
    spec = SPECS[name]

    class Fields:
        pass

    bar = Fields()
    for field in spec.inputs:
        setattr(bar, field, 5.0)
    stream = spec.stream(*spec.defaults())
    for _ in range(spec.lookback() + 1):
        stream.update(bar)  # type: ignore[arg-type]
    assert stream.value is not None
    if spec.inputs == ("close",):
        spec.stream(*spec.defaults()).update(5.0)
    else:
        with pytest.raises(IndicatorError, match="needs a bar with"):
            spec.stream(*spec.defaults()).update(5.0)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_stream_constructor_defaults_are_the_registrys(name: str) -> None:
    spec = SPECS[name]
    sig = list(inspect.signature(spec.stream).parameters.values())
    assert [p.name for p in sig] == [p.name for p in spec.params]
    for p, q in zip(sig, spec.params, strict=True):
        assert p.default is inspect.Parameter.empty or p.default == q.default, (p, q)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_batch_and_stream_reject_each_parameter_past_its_range(name: str) -> None:
    """The range written in the registry is the one the implementations enforce."""
    spec = SPECS[name]
    data = walk(50)
    for i, p in enumerate(spec.params):
        for value in (p.minimum, p.maximum):
            params = [*spec.defaults()]
            params[i] = value
            spec.stream(*params)  # accepted
        for value in _beyond(p):
            params = [*spec.defaults()]
            params[i] = value
            with pytest.raises(IndicatorError, match=f"'{p.name}'"):
                spec.stream(*params)
            with pytest.raises(IndicatorError, match=f"'{p.name}'"):
                spec.batch(*(data[f] for f in spec.inputs), *params)


def _beyond(p: ParamSpec) -> list[float]:
    """Values just outside ``p``'s range (and NaN for a real parameter)."""
    if p.kind == "int":
        return [p.minimum - 1, p.maximum + 1]
    return [float(np.nextafter(p.maximum, np.inf)), float("nan")]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_params_match_batch_signature(name: str) -> None:
    spec = SPECS[name]
    sig = list(inspect.signature(spec.batch).parameters.values())
    arrays, params = sig[: len(spec.inputs)], sig[len(spec.inputs) :]
    expected_arrays = ["x"] if spec.inputs == ("close",) else list(spec.inputs)
    assert [p.name for p in arrays] == expected_arrays
    assert [p.name for p in params] == [p.name for p in spec.params]
    if name in DESIGN_DEFAULTS:
        assert tuple(p.default for p in params) == DESIGN_DEFAULTS[name]
        assert spec.defaults() == DESIGN_DEFAULTS[name]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_lookback_matches_talib(name: str) -> None:
    spec = SPECS[name]
    for params in PARAMS[name]:
        fn = talib.abstract.Function(  # type: ignore[attr-defined]  # absent from the stubs
            spec.talib_name, **spec.talib_kwargs(*params))
        assert spec.lookback(*params) == fn.lookback
        data = walk(spec.lookback(*params) + 5)
        first = spec.batch(*(data[i] for i in spec.inputs), *params)
        out = np.asarray(first[0] if isinstance(first, tuple) else first)
        assert int(np.isnan(out).sum()) == spec.lookback(*params)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_outputs_name_the_batch_results(name: str) -> None:
    spec = SPECS[name]
    data = walk(60)
    result = spec.batch(*(data[i] for i in spec.inputs), *spec.defaults())
    if isinstance(result, tuple):
        assert tuple(result._fields) == spec.outputs  # type: ignore[attr-defined]
    else:
        assert spec.outputs == ("value",)


@pytest.mark.parametrize("name", sorted(n for n in SPECS if n != "obv"))
def test_period_minimums_are_talibs(name: str) -> None:
    """TA-Lib accepts each int parameter's bounds and rejects values past them (lookback -1)."""
    spec = SPECS[name]
    for i, p in enumerate(spec.params):
        if p.kind != "int":
            continue
        checks = ((p.minimum, True), (p.minimum - 1, False),
                  (p.maximum, True), (p.maximum + 1, False))
        for value, accepted in checks:
            params = list(spec.defaults())
            params[i] = value
            kwargs = {q.talib_name: v for q, v in zip(spec.params, params, strict=True)}
            function = talib.abstract.Function  # type: ignore[attr-defined]  # not in the stubs
            lookback = function(spec.talib_name, **kwargs).lookback
            assert (lookback >= 0) == accepted, (p.name, value)


def test_resolve_by_name_position_and_default() -> None:
    macd = SPECS["macd"]
    assert macd.resolve(None) == (12, 26, 9)
    assert macd.resolve({"signal": 4}) == (12, 26, 4)
    assert macd.resolve((5, 10)) == (5, 10, 9)
    assert SPECS["bollinger"].resolve({"nbdev_up": 1}) == (20, 1.0, 2.0)
    assert SPECS["stoch"].talib_kwargs(14) == {
        "fastk_period": 14, "slowk_period": 3, "slowd_period": 3,
        "slowk_matype": 0, "slowd_matype": 0,
    }


def test_the_docs_indicator_table_is_the_registrys() -> None:
    from engine.indicators import doc_table

    text = doc_table.DOC.read_text(encoding="utf-8")
    assert doc_table.replace_block(text) == text, (
        "docs/strategies.md's indicator table is stale: run python -m engine.indicators.doc_table"
    )
    assert text.count("| `") >= len(SPECS)
