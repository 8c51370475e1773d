"""Batch and streaming indicators against TA-Lib 0.7.1 (talib.func), on many series shapes.

Every comparison checks the NaN mask and docs/design.md's agreement contract; the
number of bit-identical values per indicator is printed in the run summary.
Streaming outputs are asserted bit-identical to TA-Lib.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import talib
from indicator_cases import PARAMS, SHAPES, FloatArray, Series, bound, outputs

from engine.indicators.registry import SPECS, IndicatorSpec
from engine.indicators.streaming import Stream

Tally = dict[str, Counter[str]]

EXACT_BATCH = {
    "bollinger", "cci", "mfi", "obv", "roc", "mom", "willr", "wma", "highest", "lowest", "stddev",
}


@pytest.fixture(scope="module")
def tally(summary_line: Callable[[str], None]) -> Iterator[Tally]:
    counts: Tally = {}
    yield counts
    for name in sorted(counts):
        c = counts[name]
        summary_line(
            f"indicators vs TA-Lib 0.7.1: {name:9s} batch bit-identical "
            f"{c['batch_same']}/{c['batch_total']}, streaming bit-identical "
            f"{c['stream_same']}/{c['stream_total']}"
        )


def talib_outputs(spec: IndicatorSpec, data: Series, params: tuple[float, ...]) -> list[FloatArray]:
    if len(data["close"]) == 0:  # talib 0.7.1 writes out of bounds on empty input
        return [np.empty(0) for _ in spec.outputs]
    fn = getattr(talib, spec.talib_name)
    return outputs(fn(*(data[i] for i in spec.inputs), **spec.talib_kwargs(*params)))


def stream_outputs(stream: Stream, data: Series, count: int) -> list[FloatArray]:
    size = len(data["close"])
    cols = [data.get(f, np.zeros(size)) for f in ("high", "low", "close", "volume")]
    rows = np.full((size, count), np.nan)
    for i in range(size):
        value = stream.update_hlcv(*(float(col[i]) for col in cols))
        if value is not None:
            rows[i] = value
    return [rows[:, j] for j in range(count)]


def assert_agree(
    spec: IndicatorSpec, ours: list[FloatArray], ref: list[FloatArray], data: Series
) -> tuple[int, int]:
    """NaN masks equal and values inside the contract; returns (values, bit-identical)."""
    inputs = [data[i] for i in spec.inputs]
    total = same = 0
    for out_name, a, b in zip(spec.outputs, ours, ref, strict=True):
        assert a.shape == b.shape, out_name
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"NaN mask of {out_name}")
        ok = ~np.isnan(b)
        err = np.abs(a[ok] - b[ok])
        limit = bound(spec.tolerance, inputs, b[ok])
        worst = np.max(err / limit) if err.size else 0.0
        assert np.all(err <= limit), f"{out_name}: scaled error {worst:.3g} > 1"
        total += int(ok.sum())
        same += int(np.sum(a[ok] == b[ok]))
    return total, same


def _cases() -> Iterator[tuple[str, tuple[float, ...], str]]:
    for name, param_sets in PARAMS.items():
        for params in param_sets:
            for shape in SHAPES:
                yield name, params, shape


@pytest.mark.parametrize(("name", "params", "shape"), list(_cases()))
def test_matches_talib(name: str, params: tuple[float, ...], shape: str, tally: Tally) -> None:
    spec = SPECS[name]
    data = SHAPES[shape](240)
    ref = talib_outputs(spec, data, params)
    batch = outputs(spec.batch(*(data[i] for i in spec.inputs), *params))
    total, same = assert_agree(spec, batch, ref, data)
    stream = stream_outputs(spec.stream(*params), data, len(spec.outputs))
    s_total, s_same = assert_agree(spec, stream, ref, data)
    assert s_same == s_total, "streaming is not bit-identical to TA-Lib"
    counts = tally.setdefault(name, Counter())
    counts.update(batch_total=total, batch_same=same, stream_total=s_total, stream_same=s_same)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_edge_lengths(name: str) -> None:
    """Lengths 0, 1, lookback and lookback+1: same NaNs and values as TA-Lib."""
    spec = SPECS[name]
    lookback = spec.lookback()
    for size in sorted({0, 1, lookback, lookback + 1}):
        data = SHAPES["walk"](size)
        ref = talib_outputs(spec, data, spec.defaults())
        ours = outputs(spec.batch(*(data[i] for i in spec.inputs), *spec.defaults()))
        assert all(len(o) == size for o in ours)
        assert_agree(spec, ours, ref, data)
        stream = spec.stream(*spec.defaults())
        assert_agree(spec, stream_outputs(stream, data, len(ours)), ref, data)
        if size == lookback + 1:
            assert not np.isnan(ours[0][-1]), "first value must appear right after the lookback"


@pytest.mark.parametrize("shape", ["walk", "magnitude_jumps", "zero_range_runs"])
def test_long_series_stay_inside_the_contract(shape: str) -> None:
    """Running-sum drift shows only on long series (TA-Lib's WMA drifts past the contract
    against the exact value over 10^6 points, so its sums must be replayed)."""
    data = SHAPES[shape](300_000)
    for name, spec in SPECS.items():
        for params in {spec.defaults(), PARAMS[name][min(1, len(PARAMS[name]) - 1)]}:
            ref = talib_outputs(spec, data, params)
            ours = outputs(spec.batch(*(data[i] for i in spec.inputs), *params))
            values, same = assert_agree(spec, ours, ref, data)
            if name in EXACT_BATCH:  # replayed running sums stay exact across chunks
                assert same == values, f"{name}{params}: {values - same} values differ"


LONG_PERIODS = [(name, 40_000, 100_000) for name in ("adx", "rsi", "mfi", "wma", "bollinger", "sma",
                                                     "atr")]
LONG_PERIODS += [("cci", 40, 3_000), ("cci", 1_500, 6_000)]  # CCI's two layouts (block, broadcast)


@pytest.mark.parametrize(("name", "period", "size"), LONG_PERIODS)
def test_long_periods(name: str, period: int, size: int) -> None:
    """Warm-ups and windows spanning several 32768-value kernel chunks, and CCI's
    layout for periods above 32 with many or few blocks of `period` bars."""
    spec = SPECS[name]
    data = SHAPES["walk"](size)
    params = (period, *spec.defaults()[1:])
    ref = talib_outputs(spec, data, params)
    assert_agree(spec, outputs(spec.batch(*(data[i] for i in spec.inputs), *params)), ref, data)
