"""The numpy kernels' shortcuts against the plain computations they replace.

Each shortcut claims bit-identity (paired complex cumsums, the 3-pass true
range); these tests check the claim on series where rounding order matters,
and against TA-Lib where TA-Lib has the same function.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib

from engine.errors import IndicatorError
from engine.indicators import _kernels as k
from engine.indicators import atr
from engine.indicators._validate import as_series


def _jumpy(n: int, seed: int) -> np.ndarray:
    """Values spread over 1e-8 .. 1e9, so sums depend on their order."""
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 2.0, n) * 10.0 ** rng.integers(-8, 10, n)


def test_true_range_both_paths_match_talib() -> None:
    """high >= low everywhere (3-pass path) and with inverted bars (TA-Lib's formula)."""
    close = _jumpy(5000, 1)
    spread = np.random.default_rng(2).uniform(0.0, 0.5, 5000)
    high, low = close * (1 + spread), close * (1 - spread)
    for h, lo in ((high, low), (low, high), (np.where(spread > 0.25, low, high), low)):
        ours = k.true_range(h, lo, close)
        theirs = talib.TRANGE(h, lo, close)[1:]
        assert np.array_equal(ours, theirs)
        assert np.array_equal(atr(h, lo, close, 1)[1:], theirs)


def test_chain_pair_equals_two_chains() -> None:
    """The real and imaginary parts replay two Chains bit for bit, across steps."""
    x, y = _jumpy(3007, 3), _jumpy(3007, 4)
    pair = k.ChainPair((x[:7], y[:7]), True, False)
    chain_x, chain_y = k.Chain(x[:7], True, False), k.Chain(y[:7], True, False)
    for start in range(7, len(x), 1000):
        stop = min(start + 1000, len(x))
        a, b = x[start:stop], x[start - 7 : stop - 7]
        c, d = y[start:stop], y[start - 7 : stop - 7]
        z = pair.step((a, c), (b, d))
        assert np.array_equal(z[0::2].real, chain_x.step(a, b, 0))  # after each a
        assert np.array_equal(z[1::2].imag, chain_y.step(c, d, 1))  # after each b
    assert pair.carry == complex(chain_x.carry, chain_y.carry)


def test_window_sums_within_their_error_bound() -> None:
    """Restarted running sums, two segments per complex cumsum: every window sum within
    the documented 2 * ANCHOR * eps * n * max|x| of the exact sum, on values spread over
    17 orders of magnitude, across segment boundaries and the odd last segment."""
    x = _jumpy(3 * k.ANCHOR + 123, 5)
    for n in (1, 2, 30, 1000):
        got = k.window_sums(x, n)
        assert len(got) == len(x) - n + 1
        picks = [*range(0, len(got), 997), *range(k.ANCHOR - 2, len(got), k.ANCHOR), len(got) - 1]
        exact = np.array([math.fsum(x[i : i + n]) for i in picks])
        assert np.all(np.abs(got[picks] - exact) <= 2 * k.ANCHOR * 2.3e-16 * n * x.max())
        assert np.array_equal(k.window_sums(x, n, divisor=n), got / n)


def test_finiteness_check_survives_an_overflowing_sum() -> None:
    """The one-pass finiteness test falls back to the exact one when finite values
    overflow their sum; NaN and infinities are still found, by index."""
    huge = as_series("sma", "x", [1e308, 1e308, -1e308])
    assert np.array_equal(huge, [1e308, 1e308, -1e308])
    for bad, index in (([1e308, 1e308, np.inf], 2), ([np.nan, 1.0], 0), ([1.0, -np.inf], 1)):
        with pytest.raises(IndicatorError, match=rf"'x' must be finite, got .* at index {index}"):
            as_series("sma", "x", bad)


@pytest.mark.parametrize("n, size", [
    (24, 24),                      # one window: the gather has a single column
    (24, 24 * (k._GATHER_VALUES // 24 + 1)),  # the last chunk holds a single block
])
def test_cci_slot_sums_keep_order_with_a_single_column(n: int, size: int) -> None:
    """numpy reduces a single column pairwise (8 partial sums), not row after row:
    with values spread over 17 orders of magnitude the two orders differ, so
    CCI's slot-order sums must not go through that path (found on a 24-bar series)."""
    from engine.indicators import cci
    tp = _jumpy(size, 7)
    high, low, close = tp * 1.5, tp * 0.5, tp
    ours = cci(high, low, close, n)
    theirs = talib.CCI(high, low, close, timeperiod=n)
    assert np.array_equal(ours, theirs, equal_nan=True)
