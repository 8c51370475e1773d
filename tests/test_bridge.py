"""bridge.OcamlIndicators: results, batch, streams and threads.

The OCaml server must agree with engine.indicators inside docs/design.md §3's contract
(checked with engine.indicators.contract) and, where TA-Lib 0.7.1 is the
reference, with TA-Lib too. The server is built once per session if missing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import talib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.indicators as py
from bridge import OcamlIndicators
from engine.errors import IndicatorError
from engine.indicators.contract import compare
from engine.indicators.registry import SPECS

NAMES = tuple(SPECS)
# Non-default parameters for the fixed-data comparison; the others use the registry's.
CHOSEN: dict[str, tuple[Any, ...]] = {
    "sma": (20,), "ema": (10,), "wma": (7,), "rsi": (9,), "macd": (5, 13, 4),
    "bollinger": (12, 1.5, 2.5), "atr": (10,), "stoch": (9, 4, 2), "willr": (10,),
    "cci": (20,), "adx": (7,), "mfi": (11,), "obv": (), "roc": (5,), "mom": (3,),
}
PARAMS: dict[str, tuple[Any, ...]] = {n: CHOSEN.get(n, s.defaults()) for n, s in SPECS.items()}


@pytest.fixture(scope="module")
def ind(ocaml_server: Path) -> Iterator[OcamlIndicators]:
    with OcamlIndicators(ocaml_server) as client:
        yield client


def bars(n: int, seed: int = 1, shape: str = "walk") -> dict[str, np.ndarray]:
    """A consistent HLCV series (low <= close <= high, prices > 0) of a given shape."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.02, n)
    if shape == "jumps":  # jumps across many orders of magnitude
        steps += np.where(rng.random(n) < 0.05, rng.normal(0.0, 6.0, n), 0.0)
    log_close = np.clip(np.log(100.0) + np.cumsum(steps), np.log(1e-6), np.log(1e8))
    close = np.exp(log_close)
    if shape == "constant":
        close = np.full(n, 123.456)
    elif shape == "runs":  # constant runs between moves
        close = np.repeat(close[: max(1, n // 7)], 7)[:n]
        close = np.concatenate([close, np.full(n - close.size, 50.0)])
    elif shape == "tiny":  # a range of a few ULPs around 1
        close = 1.0 + rng.integers(0, 4, n) * np.spacing(1.0)
    spread = close * rng.uniform(0.0, 0.01 if shape != "tiny" else 0.0, n)
    return {"high": close + spread, "low": close - spread * rng.random(n), "close": close,
            "volume": rng.uniform(0.0, 1e6, n)}


def args_for(name: str, data: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [data[f] for f in SPECS[name].inputs]


def single(result: Any) -> np.ndarray:
    """The one output array of a single-output indicator (the client returns a union)."""
    assert isinstance(result, np.ndarray)
    return result


def outputs(result: Any) -> list[np.ndarray]:
    return list(result) if isinstance(result, tuple | list) else [result]


def assert_agrees(name: str, ours: Any, ref: Any, data: dict[str, np.ndarray]) -> None:
    inputs = {f: data[f] for f in SPECS[name].inputs}
    report = compare(name, outputs(ours), outputs(ref), inputs)
    assert report.ok, report.describe()


def test_handshake_announces_all_indicators_with_their_shapes(ind: OcamlIndicators) -> None:
    catalog = ind.catalog
    assert sorted(catalog) == sorted(NAMES)
    assert catalog["atr"].inputs == ("high", "low", "close")
    assert catalog["mfi"].inputs == ("high", "low", "close", "volume")
    assert catalog["obv"].inputs == ("close", "volume")
    assert catalog["macd"].outputs == ("macd", "signal", "histogram")
    assert catalog["bollinger"].params == (("period", 20.0), ("nbdev_up", 2.0),
                                           ("nbdev_down", 2.0))
    assert catalog["stoch"].outputs == ("k", "d")


@pytest.mark.parametrize("name", NAMES)
def test_each_function_matches_engine_and_talib_on_fixed_data(
    ind: OcamlIndicators, name: str
) -> None:
    data = bars(400, seed=3)
    ours = getattr(ind, name)(*args_for(name, data), *PARAMS[name])
    assert_agrees(name, ours, getattr(py, name)(*args_for(name, data), *PARAMS[name]), data)
    assert all(o.dtype == np.float64 and o.shape == (400,) for o in outputs(ours))


def talib_reference(name: str, data: dict[str, np.ndarray], params: tuple[Any, ...]) -> Any:
    spec = SPECS[name]
    twin = getattr(talib, spec.talib_name)
    return twin(*(data[f] for f in spec.inputs), **spec.talib_kwargs(*params))


def test_handshake_catalog_is_the_registry(ind: OcamlIndicators) -> None:
    """The OCaml twin of each entry takes the same inputs, parameters (names and
    defaults) and outputs, in the same order."""
    for name, spec in SPECS.items():
        info = ind.catalog[name]
        assert info.inputs == spec.inputs, name
        assert info.params == tuple((p.name, float(p.default)) for p in spec.params), name
        assert info.outputs == spec.outputs, name


@pytest.mark.parametrize("name", NAMES)
def test_each_function_agrees_with_talib(ind: OcamlIndicators, name: str) -> None:
    # Long enough that replies take the server's large-array path (>= 512 values).
    data = bars(3000, seed=11, shape="jumps")
    ours = getattr(ind, name)(*args_for(name, data), *PARAMS[name])
    assert_agrees(name, ours, talib_reference(name, data, PARAMS[name]), data)


def test_multi_output_functions_return_engine_named_tuples(ind: OcamlIndicators) -> None:
    data = bars(100)
    assert type(ind.macd(data["close"])) is py.Macd
    assert type(ind.bollinger(data["close"])) is py.Bands
    assert type(ind.stoch(data["high"], data["low"], data["close"])) is py.Stoch


def test_floats_travel_bit_exact(ind: OcamlIndicators) -> None:
    # MOM(1) is x[t] - x[t-1]: one IEEE subtraction, so the result is exact only
    # if every bit of the input crossed the pipe and came back unchanged.
    rng = np.random.default_rng(5)
    x = rng.uniform(1e-8, 1e9, 1000) * (1.0 + rng.random(1000) * 2.0**-30)
    out = single(ind.mom(x, 1))
    assert np.isnan(out[0])
    assert out[1:].view(np.int64).tolist() == (x[1:] - x[:-1]).view(np.int64).tolist()


def test_short_and_empty_inputs_give_all_nan_of_the_same_length(ind: OcamlIndicators) -> None:
    short = single(ind.sma(np.array([1.0, 2.0]), 5))
    assert short.shape == (2,) and np.isnan(short).all()
    assert single(ind.rsi(np.empty(0))).shape == (0,)
    assert outputs(ind.macd(np.empty(0)))[0].shape == (0,)


def test_accepts_lists_and_non_contiguous_arrays(ind: OcamlIndicators) -> None:
    data = bars(200)["close"]
    strided = np.repeat(data, 2)[::2]
    assert not strided.flags.c_contiguous
    expected = ind.ema(data, 9)
    assert np.array_equal(ind.ema(strided, 9), expected, equal_nan=True)
    assert np.array_equal(ind.ema(data.tolist(), 9), expected, equal_nan=True)


SHAPES = st.sampled_from(["walk", "jumps", "constant", "runs", "tiny"])


def draw_params(draw: st.DrawFn, name: str) -> tuple[Any, ...]:
    """Registry parameters: integers in [minimum, 40], reals in [0, 4]."""
    return tuple(
        draw(st.integers(int(p.minimum), 40)) if p.kind == "int" else draw(st.floats(0.0, 4.0))
        for p in SPECS[name].params
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, dict[str, np.ndarray], tuple[Any, ...]]:
    name = draw(st.sampled_from(NAMES))
    data = bars(draw(st.integers(0, 260)), draw(st.integers(0, 2**31)), draw(SHAPES))
    return name, data, draw_params(draw, name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_generated_series_agree_with_engine_inside_the_contract(
    ind: OcamlIndicators, case: tuple[str, dict[str, np.ndarray], tuple[Any, ...]]
) -> None:
    name, data, params = case
    args = args_for(name, data)
    try:
        ref = getattr(py, name)(*args, *params)
    except IndicatorError:
        with pytest.raises(IndicatorError):
            getattr(ind, name)(*args, *params)
        return
    assert_agrees(name, getattr(ind, name)(*args, *params), ref, data)


@pytest.mark.parametrize("n", [250, 2000])
def test_batch_equals_single_calls_bit_for_bit(ind: OcamlIndicators, n: int) -> None:
    data = bars(n, seed=9)
    requests: list[Any] = [(n, PARAMS[n]) for n in NAMES]
    results = ind.batch(requests, **data)
    for name, got in zip(NAMES, results, strict=True):
        single = getattr(ind, name)(*args_for(name, data), *PARAMS[name])
        for a, b in zip(outputs(got), outputs(single), strict=True):
            assert a.tobytes() == b.tobytes(), name
    assert type(results[NAMES.index("macd")]) is py.Macd


def test_batch_request_forms_fill_defaults(ind: OcamlIndicators) -> None:
    close = bars(120)["close"]
    by_name, by_mapping, partial, full = ind.batch(
        ["rsi", ("bollinger", {"nbdev_down": 1.0}), ("macd", (8,)), ("macd", (8, 26, 9))],
        close=close)
    assert_agrees("rsi", by_name, py.rsi(close, 14), {"close": close})
    assert_agrees("bollinger", by_mapping, py.bollinger(close, 20, 2.0, 1.0), {"close": close})
    assert all(a.tobytes() == b.tobytes() for a, b in zip(partial, full, strict=True))


def test_empty_batch_is_an_empty_list(ind: OcamlIndicators) -> None:
    assert ind.batch([], close=bars(10)["close"]) == []
    assert ind.push_many([], 1.0, 1.0, 1.0, 1.0) == []


def test_batch_names_a_missing_series(ind: OcamlIndicators) -> None:
    with pytest.raises(IndicatorError, match="atr needs the high series"):
        ind.batch(["sma", "atr"], close=bars(50)["close"])


def test_stream_continues_its_history_like_the_batch(ind: OcamlIndicators) -> None:
    data = bars(300, seed=4)
    for name in NAMES:
        fields = SPECS[name].inputs
        handle = ind.open_stream(name, PARAMS[name], {f: data[f][:200] for f in fields})
        pushed = [ind.push(handle, *(float(data[f][i]) for f in ("high", "low", "close", "volume")))
                  for i in range(200, 300)]
        ind.close_stream(handle)
        ref = [o[200:] for o in outputs(getattr(py, name)(*args_for(name, data), *PARAMS[name]))]
        got = [np.array([np.nan if v is None else (v if isinstance(v, float) else v[k])
                         for v in pushed]) for k in range(len(ref))]
        assert_agrees(name, got, ref, data)


def test_stream_without_history_warms_up_with_none(ind: OcamlIndicators) -> None:
    handle = ind.open_stream("sma", (3,))
    assert handle.initial is None
    values = [ind.push(handle, c, c, c, 0.0) for c in (1.0, 2.0, 3.0, 4.0)]
    assert values == [None, None, 2.0, 3.0]
    ind.close_stream(handle)


def test_multi_output_stream_values_are_tuples_in_output_order(ind: OcamlIndicators) -> None:
    close = bars(60)["close"]
    handle = ind.open_stream("bollinger", {"period": 5}, {"close": close})
    bands = py.bollinger(close, 5)
    assert handle.outputs == ("upper", "middle", "lower")
    assert isinstance(handle.initial, tuple) and len(handle.initial) == 3
    assert_agrees("bollinger", [np.array([v]) for v in handle.initial],
                  [b[-1:] for b in bands], {"close": close})
    ind.close_stream(handle)


def test_push_many_feeds_every_stream_the_same_bar(ind: OcamlIndicators) -> None:
    data = bars(80, seed=2)
    handles = [ind.open_stream(n, PARAMS[n], data) for n in ("ema", "atr", "obv")]
    twins = [ind.open_stream(n, PARAMS[n], data) for n in ("ema", "atr", "obv")]
    together = ind.push_many(handles, 101.0, 99.0, 100.0, 1234.0)
    alone = [ind.push(h, 101.0, 99.0, 100.0, 1234.0) for h in twins]
    assert together == alone
    assert all(isinstance(v, float) for v in together)
    for h in handles + twins:
        ind.close_stream(h)


def test_four_threads_sharing_one_client_get_their_own_results(ind: OcamlIndicators) -> None:
    data = {k: bars(500, seed=k) for k in range(4)}
    expected = {k: single(ind.rsi(data[k]["close"], 5 + k)) for k in data}
    errors: list[str] = []

    def work(k: int) -> None:
        for _ in range(60):
            got = single(ind.rsi(data[k]["close"], 5 + k))
            if got.tobytes() != expected[k].tobytes():
                errors.append(f"thread {k} got another thread's result")

    threads = [threading.Thread(target=work, args=(k,)) for k in data]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert not any(t.is_alive() for t in threads)
