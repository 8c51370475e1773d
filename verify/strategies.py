"""Hypothesis strategies for the cross-checks: series inside docs/design.md §3's domain.

Prices lie in [1e-8, 1e9], volumes in [0, 1e12], every bar is consistent
(low <= open, close <= high). Shapes: random and geometric walks, constant
runs, steps, spikes, regime changes across many orders of magnitude, tiny
ranges near 1e-8 and raw adversarial floats. The length is drawn first (0 up
to a few times a typical lookback, occasionally long), the parameters after
it, edge values included.

Short raw series are drawn value by value (hypothesis shrinks them well);
longer shapes come from a numpy generator seeded by a drawn integer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from verify.cases import Case, FloatArray

PRICE_MIN = 1e-8
PRICE_MAX = 1e9
VOLUME_MAX = 1e12
#: Float parameters (Bollinger's deviations) are drawn in [-FLOAT_PARAM_SPAN, +span]
#: or at TA-Lib's extremes ±3e37: the price-scaled bound assumes bands of price size.
FLOAT_PARAM_SPAN = 10.0

Draw = Callable[[st.SearchStrategy[Any]], Any]
Rng = np.random.Generator

_PRICE_FLOATS = st.floats(PRICE_MIN, PRICE_MAX, allow_nan=False, allow_infinity=False)
_EDGE_PRICES = st.sampled_from([PRICE_MIN, 1.0, 100.0, PRICE_MAX, 1e-4, 0.1 + 0.2, 1e8 + 0.5])


def _clip(x: FloatArray) -> FloatArray:
    return np.clip(x, PRICE_MIN, PRICE_MAX)


def _level(rng: Rng) -> float:
    """A price level log-uniform over the whole domain."""
    return float(10.0 ** rng.uniform(-8.0, 9.0))


def _random_walk(rng: Rng, n: int) -> FloatArray:
    start = _level(rng)
    steps = rng.normal(0.0, start * 10.0 ** rng.uniform(-6, -1), n)
    return _clip(np.abs(start + np.cumsum(steps)) + PRICE_MIN)


def _geometric_walk(rng: Rng, n: int) -> FloatArray:
    sigma = 10.0 ** rng.uniform(-6, -0.3)
    return _clip(_level(rng) * np.exp(np.cumsum(rng.normal(0.0, sigma, n))))


def _constant(rng: Rng, n: int) -> FloatArray:
    return np.full(n, _level(rng))


def _steps(rng: Rng, n: int) -> FloatArray:
    levels = [_level(rng) if rng.random() < 0.3 else 100.0 * (1 + rng.normal(0, 0.1))
              for _ in range(int(rng.integers(1, 6)))]
    cuts = np.sort(rng.integers(0, n + 1, len(levels) - 1))
    out = np.empty(n)
    for lvl, lo, hi in zip(levels, [0, *cuts], [*cuts, n], strict=True):
        out[lo:hi] = lvl
    return _clip(out)


def _spikes(rng: Rng, n: int) -> FloatArray:
    out = _geometric_walk(rng, n)
    if n:
        idx = rng.integers(0, n, int(rng.integers(1, 4)))
        out[idx] *= 10.0 ** rng.uniform(-6, 6, idx.size)
    return _clip(out)


def _regimes(rng: Rng, n: int) -> FloatArray:
    """Segments at levels many orders of magnitude apart, each a small walk."""
    k = int(rng.integers(2, 6))
    cuts = np.sort(rng.integers(0, n + 1, k - 1))
    out = np.empty(n)
    for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
        out[lo:hi] = _level(rng) * np.exp(np.cumsum(rng.normal(0, 0.01, hi - lo)))
    return _clip(out)


def _tiny_range(rng: Rng, n: int) -> FloatArray:
    """Values near 1e-8, or at any level with relative moves of a few ULPs."""
    if rng.random() < 0.5:
        steps = rng.integers(0, 50, n).astype(np.float64)
        return _clip(PRICE_MIN * (1.0 + steps * 1e-3))
    ulps = rng.integers(-4, 5, n).astype(np.float64)
    return _clip(_level(rng) * (1.0 + ulps * 2.0**-52))


SHAPES: dict[str, Callable[[Rng, int], FloatArray]] = {
    "random_walk": _random_walk,
    "geometric_walk": _geometric_walk,
    "constant": _constant,
    "steps": _steps,
    "spikes": _spikes,
    "regimes": _regimes,
    "tiny_range": _tiny_range,
}


@st.composite
def lengths(draw: Draw, long_max: int = 5000) -> int:
    """0..60 mostly, up to 400 often, up to ``long_max`` rarely, and 1 in 100 a
    very long series (30,000..40,000 bars: past the chunk size of chunked numpy
    kernels). Shrinks toward short."""
    bucket = draw(st.integers(0, 99))
    if bucket < 60:
        return int(draw(st.integers(0, 60)))
    if bucket < 97:
        return int(draw(st.integers(61, 400)))
    if bucket < 99:
        return int(draw(st.integers(401, max(401, long_max))))
    return int(draw(st.integers(30_000, 40_000)))


@st.composite
def closes(draw: Draw, n: int) -> FloatArray:
    """A close series of length ``n`` in one of the shapes (or raw drawn floats)."""
    shape = draw(st.sampled_from(["raw", *SHAPES]))
    if shape == "raw" and n <= 80:
        values = draw(st.lists(_PRICE_FLOATS | _EDGE_PRICES, min_size=n, max_size=n))
        return np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    make = SHAPES.get(shape, _geometric_walk)
    return make(rng, n).astype(np.float64)


def _wicks(rng: Rng, close: FloatArray, mode: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    """open, high, low around ``close``: flat bars, tiny or normal wicks, gaps."""
    n = close.size
    opn = np.empty(n)
    if n:
        opn[0] = close[0]
        opn[1:] = close[:-1]
    if mode == "gaps" and n:
        opn = _clip(opn * np.exp(rng.normal(0, 0.05, n)))
    if mode == "flat":
        opn = close.copy()
    width = {"flat": 0.0, "tiny": 1e-12, "normal": 1e-2, "gaps": 2e-2}[mode]
    up = 1.0 + np.abs(rng.normal(0, width, n))
    down = 1.0 - np.minimum(np.abs(rng.normal(0, width, n)), 0.9)
    high = _clip(np.maximum(opn, close) * up)
    low = _clip(np.minimum(opn, close) * down)
    return opn, np.maximum(high, np.maximum(opn, close)), np.minimum(low, np.minimum(opn, close))


def _volume(rng: Rng, n: int, mode: str) -> FloatArray:
    if mode == "zero":
        return np.zeros(n)
    if mode == "constant":
        return np.full(n, float(10.0 ** rng.uniform(0, 12)))
    vol = np.floor(10.0 ** rng.uniform(0, 12, n)) if mode == "integer" else 10.0 ** rng.uniform(
        -3, 12, n
    )
    if mode == "zero_runs" and n:
        lo = int(rng.integers(0, n))
        vol[lo : lo + int(rng.integers(1, max(2, n // 2)))] = 0.0
    return np.clip(vol, 0.0, VOLUME_MAX)


@st.composite
def ohlcv(draw: Draw, n: int | None = None, long_max: int = 5000) -> dict[str, FloatArray]:
    """A consistent OHLCV series: low <= open, close <= high; volume in [0, 1e12]."""
    if n is None:
        n = draw(lengths(long_max))
    close = draw(closes(n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    wick = draw(st.sampled_from(["normal", "flat", "tiny", "gaps"]))
    vol_mode = draw(st.sampled_from(["random", "zero_runs", "integer", "constant", "zero"]))
    opn, high, low = _wicks(rng, close, wick)
    return {
        "open": opn,
        "high": high,
        "low": low,
        "close": close,
        "volume": _volume(rng, n, vol_mode),
    }


def _int_param(draw: Draw, spec: Any, n: int) -> int:
    lo, hi = int(spec.minimum), int(spec.maximum)
    near = [lo, lo + 1, int(spec.default), n - 1, n, n + 1, n // 2, n // 3]
    edge = st.sampled_from(sorted({v for v in near if lo <= v <= hi}))
    choice = draw(st.integers(0, 19))
    if choice == 19:
        return hi  # the largest period TA-Lib accepts: all-NaN output
    if choice < 8:
        return int(draw(edge))
    return int(draw(st.integers(lo, max(lo, min(hi, n + 2)))))


def _float_param(draw: Draw, spec: Any) -> float:
    lo = max(float(spec.minimum), -FLOAT_PARAM_SPAN)
    hi = min(float(spec.maximum), FLOAT_PARAM_SPAN)
    edges = [v for v in (0.0, 1.0, 2.0, -1.0, float(spec.default), 0.5) if lo <= v <= hi]
    # TA-Lib's extremes (±3e37) too: the implementations are bit-identical there.
    extremes = [float(spec.minimum), float(spec.maximum)]
    return float(draw(st.sampled_from(edges) | st.floats(lo, hi) | st.sampled_from(extremes)))


@st.composite
def params_for(draw: Draw, spec: Any, n: int) -> tuple[int | float, ...]:
    """Valid parameters of ``spec`` for a series of length ``n``, edges included."""
    return tuple(
        _int_param(draw, p, n) if _is_int(p) else _float_param(draw, p)
        for p in spec.params
    )


@st.composite
def cases(draw: Draw, name: str, long_max: int = 5000) -> Case:
    """A valid input for indicator ``name``: series, then parameters, then a stream split."""
    from engine.indicators.registry import SPECS

    data = draw(ohlcv(long_max=long_max))
    n = int(data["close"].size)
    params = draw(params_for(SPECS[name], n))
    split = draw(st.integers(0, n)) if draw(st.booleans()) else 0
    return Case(name, params, data, split)


#: How an input is made invalid; TA-Lib only takes part in "param" (it accepts
#: non-finite values and any Bollinger deviation, where we reject).
BAD_KINDS = ("param", "non_finite", "float_param", "length_mismatch")


@st.composite
def bad_cases(draw: Draw, name: str) -> tuple[str, Case]:
    """An input every one of our implementations must reject, and how it is bad."""
    from engine.indicators.registry import SPECS

    spec = SPECS[name]
    kinds = [k for k in BAD_KINDS if _applicable(k, spec)]
    kind = draw(st.sampled_from(kinds))
    n = draw(st.integers(1 if kind == "non_finite" else 0, 80))
    data = dict(draw(ohlcv(n)))
    params = list(draw(params_for(spec, n)))
    split = 0
    if kind == "param":
        k = draw(st.sampled_from([i for i, p in enumerate(spec.params) if _is_int(p)]))
        p = spec.params[k]
        params[k] = draw(
            st.sampled_from([int(p.minimum) - 1, 0, -1, int(p.maximum) + 1, 2**31 - 1])
            .filter(lambda v: not p.minimum <= v <= p.maximum)
        )
    elif kind == "float_param":
        k = draw(st.sampled_from([i for i, p in enumerate(spec.params) if not _is_int(p)]))
        p = spec.params[k]
        beyond = [np.nextafter(float(p.maximum), np.inf), np.nextafter(float(p.minimum), -np.inf)]
        params[k] = draw(st.sampled_from([np.nan, np.inf, -np.inf, *beyond, -1e38]))
    elif kind == "non_finite":
        field = draw(st.sampled_from(list(spec.inputs)))
        arr = data[field].copy()
        arr[draw(st.integers(0, n - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        data[field] = arr
        split = draw(st.integers(0, n))
    else:
        field = draw(st.sampled_from(list(spec.inputs)))
        longer = draw(st.booleans()) or n == 0
        data[field] = np.append(data[field], 1.0) if longer else data[field][:-1]
    return kind, Case(name, tuple(params), data, split)


def _is_int(p: Any) -> bool:
    return p.kind is int or p.kind == "int"


def _applicable(kind: str, spec: Any) -> bool:
    if kind == "param":
        return any(_is_int(p) for p in spec.params)
    if kind == "float_param":
        return any(not _is_int(p) for p in spec.params)
    if kind == "length_mismatch":
        return len(spec.inputs) > 1
    return True
