"""Streaming = batch, seeding from history, the update paths, and no look-ahead in batch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from factories import make_bar
from hypothesis import given
from hypothesis import strategies as st
from indicator_cases import PARAMS, SHAPES, bound, outputs

from engine.indicators import streaming
from engine.indicators.registry import SPECS

FIELDS = ("high", "low", "close", "volume")


def _run(stream: streaming.Stream, data: dict[str, np.ndarray], start: int = 0) -> list[object]:
    cols = [data[f].tolist() for f in FIELDS]
    return [stream.update_hlcv(*(col[i] for col in cols)) for i in range(start, len(cols[0]))]


def _as_columns(values: list[object], count: int) -> list[np.ndarray]:
    rows = np.full((len(values), count), np.nan)
    for i, v in enumerate(values):
        if v is not None:
            rows[i] = v
    return [rows[:, j] for j in range(count)]


@pytest.mark.parametrize("shape", ["walk", "magnitude_jumps", "zero_range_runs", "tiny_range"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_streaming_agrees_with_batch(name: str, shape: str) -> None:
    spec = SPECS[name]
    data = SHAPES[shape](400)
    inputs = [data[i] for i in spec.inputs]
    for params in PARAMS[name]:
        ours = _as_columns(_run(spec.stream(*params), data), len(spec.outputs))
        ref = outputs(spec.batch(*inputs, *params))
        for a, b in zip(ours, ref, strict=True):
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            ok = ~np.isnan(b)
            assert np.all(np.abs(a[ok] - b[ok]) <= bound(spec.tolerance, inputs, b[ok]))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_create_from_history_continues_like_one_stream(name: str) -> None:
    spec = SPECS[name]
    data = SHAPES["walk"](300)
    whole = _run(spec.stream(*spec.defaults()), data)
    head = {f: data[f][:200] for f in spec.inputs}
    seeded = streaming.create(name, spec.defaults(), head)
    assert seeded.value == whole[199]
    assert _run(seeded, data, start=200) == whole[200:]


def test_value_is_none_during_warm_up_then_the_last_output() -> None:
    s = streaming.SmaStream(3)
    # lists, not `is None` checks: mypy would keep s.value narrowed to None afterwards
    assert [s.value, s.update(1.0), s.update(2.0), s.value] == [None] * 4
    assert s.update(6.0) == 3.0 and s.value == 3.0
    assert s.update(np.float64(7.0)) == 5.0


def test_update_with_a_bar_equals_update_hlcv() -> None:
    data = SHAPES["walk"](80)
    for name in ("adx", "mfi", "obv", "bollinger"):
        a, b = streaming.create(name), streaming.create(name)
        for i in range(80):
            bar = SimpleNamespace(**{f: float(data[f][i]) for f in FIELDS})
            assert a.update(bar) == b.update_hlcv(*(float(data[f][i]) for f in FIELDS))


def test_hand_computed_values() -> None:
    """Small cases worked out by hand from docs/talib_notes.md's formulas."""
    assert streaming.create("sma", (2,), {"close": [1.0, 2.0, 4.0]}).value == 3.0
    assert streaming.create("ema", (3,), {"close": [1.0, 2.0, 3.0, 7.0]}).value == 4.5
    assert streaming.create("mom", (2,), {"close": [1.0, 2.0, 5.0]}).value == 4.0
    assert streaming.create("roc", (1,), {"close": [4.0, 5.0]}).value == 25.0
    assert streaming.create("rsi", (2,), {"close": [1.0, 1.0, 1.0]}).value == 0.0
    obv_history = {"close": [1.0, 2.0, 1.5, 1.5], "volume": [5.0, 3.0, 2.0, 9.0]}
    obv = streaming.create("obv", None, obv_history)
    assert obv.value == 6.0  # 5 + 3 - 2, unchanged close adds nothing
    hist = {"high": [3.0, 4.0], "low": [1.0, 2.0], "close": [2.0, 3.0]}
    willr = streaming.create("willr", (2,), hist).value
    assert willr == pytest.approx(-100.0 / 3.0, rel=1e-15)  # (4-3)/((4-1)/-100)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_batch_has_no_look_ahead(name: str) -> None:
    spec = SPECS[name]
    data = SHAPES["magnitude_jumps"](500)
    inputs = [data[i] for i in spec.inputs]
    params = PARAMS[name][-1]
    full = outputs(spec.batch(*inputs, *params))
    for k in (0, 1, 2, 17, 63, 64, 65, 130, 257, 499):
        prefix = outputs(spec.batch(*(a[:k] for a in inputs), *params))
        for a, b in zip(prefix, full, strict=True):
            np.testing.assert_array_equal(a, b[:k])


def test_update_accepts_engine_bars() -> None:
    data = SHAPES["walk"](40)
    stream, reference = streaming.create("atr", (5,)), streaming.create("atr", (5,))
    for i in range(40):
        h, lo, c, v = (float(data[f][i]) for f in FIELDS)
        bar = make_bar(i, c, high=h, low=lo, volume=v)
        assert stream.update(bar) == reference.update_hlcv(h, lo, c, v)
    assert stream.value is not None


@given(st.integers(1, 20), st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)),
                                    min_size=1, max_size=400))
def test_extremes_are_the_window_max_and_min(n: int, pairs: list[tuple[int, int]]) -> None:
    """Extremes' monotonic queues against the definition, over runs long enough to
    compact them (small integers make ties, which evict older equal values)."""
    from engine.indicators.streaming_base import Extremes

    ext = Extremes(n)
    highs: list[float] = []
    lows: list[float] = []
    for a, b in pairs:
        high, low = float(max(a, b)), float(min(a, b))
        highs.append(high)
        lows.append(low)
        got = ext.push(high, low)
        if len(highs) < n:
            assert got is None
        else:
            assert got == (max(highs[-n:]), min(lows[-n:]))


@given(st.integers(1, 20), st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200))
def test_running_mean_keeps_talib_order(n: int, xs: list[float]) -> None:
    """RunningMean's ring: TA-Lib's order of operations (S += x; out = S/n; S -= the
    oldest), replayed here on a plain list."""
    from engine.indicators.streaming_base import RunningMean

    mean = RunningMean(n)
    total = 0.0
    for i, x in enumerate(xs):
        s = total + x
        want = None if i + 1 < n else s / n
        total = s if i + 1 < n else s - xs[i + 1 - n]
        assert mean.push(x) == want


@given(st.integers(1, 12), st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=100))
def test_window_keeps_the_last_n(n: int, xs: list[float]) -> None:
    """Window against its definition: full once n values are in, and then its oldest is
    the value pushed n - 1 pushes ago."""
    from engine.indicators.streaming_base import Window

    window = Window(n)
    for i, x in enumerate(xs):
        assert window.push(x) is (i + 1 >= n)
        assert window.count == min(i + 1, n)
        if i + 1 >= n:
            assert window.oldest() == xs[i + 1 - n]
