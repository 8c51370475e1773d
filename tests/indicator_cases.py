"""Shared test data for the indicator tests: series shapes, parameter sets, the contract.

The contract bound is docs/design.md §3, written out here independently of
engine.indicators.contract so the two cross-check each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from engine.indicators.registry import SPECS, IndicatorSpec, ParamSpec

FloatArray = npt.NDArray[np.float64]
Series = dict[str, FloatArray]

#: Hand-picked parameter sets beyond the generated ones (swapped MACD periods,
#: negative deviations, CCI periods past its buffer sizes, ...). Optional: an
#: indicator without an entry is still covered by ``param_sets``.
EXTRA_PARAMS: Mapping[str, list[tuple[float, ...]]] = {
    "sma": [(1,), (2,), (14,), (30,)],
    "ema": [(1,), (2,), (14,), (30,)],
    "wma": [(1,), (2,), (14,), (30,)],
    "rsi": [(2,), (14,), (30,)],
    "macd": [(12, 26, 9), (2, 3, 1), (26, 12, 9), (5, 35, 5)],
    "bollinger": [(2, 2.0, 2.0), (20, 2.0, 2.0), (5, 1.0, 1.0), (10, 1.5, -0.5), (7, 1.0, 3.0)],
    "atr": [(1,), (2,), (14,), (30,)],
    "stoch": [(5, 3, 3), (1, 1, 1), (14, 3, 5), (3, 1, 4)],
    "willr": [(2,), (14,), (30,)],
    "cci": [(2,), (14,), (31,), (40,), (100,)],
    "adx": [(2,), (14,), (30,)],
    "mfi": [(2,), (14,), (30,)],
    "obv": [()],
    "roc": [(1,), (10,), (30,)],
    "mom": [(1,), (10,), (30,)],
}


def param_sets(spec: IndicatorSpec) -> list[tuple[float, ...]]:
    """Parameter sets for ``spec``, from the registry: its defaults, every integer
    parameter at its minimum, one above it, and at 30; then the hand-picked extras."""
    def at(value: Callable[[ParamSpec], float]) -> tuple[float, ...]:
        return tuple(value(p) if p.kind == "int" else p.default for p in spec.params)

    generated = [spec.defaults(), at(lambda p: p.minimum), at(lambda p: p.minimum + 1),
                 at(lambda p: max(p.minimum, 30))]
    return list(dict.fromkeys([*generated, *EXTRA_PARAMS.get(spec.name, [])]))


PARAMS: Mapping[str, list[tuple[float, ...]]] = {
    name: param_sets(spec) for name, spec in SPECS.items()
}
"""Parameter sets of every registry indicator (``param_sets``)."""


def _bars(close: FloatArray, spread: FloatArray, volume: FloatArray) -> Series:
    high = close * (1.0 + spread)
    low = close * (1.0 - spread)
    return {"high": high, "low": np.minimum(low, close), "close": close, "volume": volume}


def walk(n: int, seed: int = 1) -> Series:
    """A pleasant random walk around 100."""
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0, 1, n))
    close = np.abs(close) + 1.0
    return _bars(close, rng.uniform(0, 0.01, n), rng.uniform(0, 1e6, n))


def constant(n: int) -> Series:
    """Every price equal: zero ranges, zero moves."""
    c = np.full(n, 42.5)
    return {"high": c.copy(), "low": c.copy(), "close": c, "volume": np.full(n, 1000.0)}


def monotonic(n: int, up: bool = True) -> Series:
    """Strictly monotonic closes with a fixed spread."""
    c = np.linspace(10.0, 500.0, n) if up else np.linspace(500.0, 10.0, n)
    return _bars(c, np.full(n, 0.002), np.full(n, 500.0))


def zero_range_runs(n: int, seed: int = 2) -> Series:
    """Constant runs (high == low == close) separated by jumps."""
    rng = np.random.default_rng(seed)
    levels = np.repeat(rng.uniform(50, 150, n // 10 + 1), 10)[:n]
    return {"high": levels.copy(), "low": levels.copy(), "close": levels,
            "volume": np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0, 1e3, n))}


def magnitude_jumps(n: int, seed: int = 3) -> Series:
    """Segments at magnitudes from 1e-8 to 1e9, with volume up to 1e12."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-8, 10, n // 25 + 1).repeat(25)[:n]
    close = scale * (1.0 + 0.01 * rng.random(n))
    volume = 10.0 ** rng.uniform(0, 12, n)
    return _bars(close, rng.uniform(0, 0.01, n), volume)


def tiny_range(n: int, seed: int = 4) -> Series:
    """Prices near 1e9 moving by a few ulps: cancellation everywhere."""
    rng = np.random.default_rng(seed)
    close = np.asarray(1e9 + rng.integers(-4, 5, n) * 2.384185791015625e-7, dtype=np.float64)
    spread = np.asarray(rng.integers(0, 3, n) * 1.2e-16, dtype=np.float64)
    return _bars(close, spread, rng.uniform(0, 10, n))


SHAPES: Mapping[str, Callable[[int], Series]] = {
    "walk": walk,
    "constant": constant,
    "monotonic_up": monotonic,
    "monotonic_down": lambda n: monotonic(n, up=False),
    "zero_range_runs": zero_range_runs,
    "magnitude_jumps": magnitude_jumps,
    "tiny_range": tiny_range,
}


def bound(kind: str, inputs: list[FloatArray], reference: FloatArray) -> FloatArray | float:
    """docs/design.md §3's allowed |a - b| for each output value."""
    if kind == "oscillator":
        return 1e-7
    if kind == "cci":
        return 1e-7 * np.maximum(1.0, np.abs(reference))
    scale = max((float(np.max(np.abs(a))) for a in inputs if len(a)), default=0.0)
    return 1e-9 * max(1.0, scale)


def outputs(value: object) -> list[FloatArray]:
    """A batch result (array or NamedTuple of arrays) as a list of arrays."""
    if isinstance(value, tuple):
        return [np.asarray(v) for v in value]
    return [np.asarray(value)]
