"""Input validation for the indicator functions: every bad input is an IndicatorError.

Messages name the function, the argument and the offending value, and say what
would be valid.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from engine.errors import IndicatorError

FloatArray = npt.NDArray[np.float64]

MAX_PERIOD = 100_000
"""TA-Lib's upper bound for every period parameter."""

MAX_NBDEV = 3e37
"""TA-Lib's bound (TA_REAL_MAX) for BBANDS' deviation multipliers."""


def as_series(func: str, arg: str, values: object, *, require_finite: bool = True) -> FloatArray:
    """Return `values` as a contiguous 1-D float64 array, or raise IndicatorError.

    Rejects anything numpy cannot convert to float64, arrays that are not 1-D
    and, unless `require_finite` is False (the OCaml bridge, whose server checks
    finiteness itself), non-finite values (naming the first bad index).
    """
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "c":
        # numpy would drop the imaginary part with only a warning.
        raise IndicatorError(
            f"{func}: argument '{arg}' must hold real numbers, got complex values"
        )
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise IndicatorError(
            f"{func}: argument '{arg}' must be a 1-D sequence of numbers, got "
            f"{type(values).__name__} ({exc})"
        ) from None
    if arr.ndim != 1:
        raise IndicatorError(
            f"{func}: argument '{arg}' must be 1-D, got an array of shape {arr.shape}"
        )
    if require_finite and not _all_finite(arr):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise IndicatorError(
            f"{func}: argument '{arg}' must be finite, got {arr[bad]!r} at index {bad}"
        )
    return arr


def _all_finite(arr: FloatArray) -> bool:
    """Whether every value is finite: one summing pass (a NaN or an infinity makes the
    sum non-finite), and the exact test only when the sum is not finite (which an
    overflow of finite values can also cause)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(np.add.reduce(arr)):
            return True
    return bool(np.isfinite(arr).all())


def same_length(func: str, **arrays: FloatArray) -> int:
    """Return the common length of `arrays`, or raise IndicatorError naming them."""
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise IndicatorError(f"{func}: input arrays must have the same length, got {detail}")
    return next(iter(lengths.values()), 0)


def check_period(
    func: str, arg: str, value: object, minimum: int, maximum: int = MAX_PERIOD
) -> int:
    """Return `value` as an int in [minimum, maximum], or raise IndicatorError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise IndicatorError(
            f"{func}: argument '{arg}' must be an integer in [{minimum}, {maximum}], "
            f"got {value!r}"
        )
    period = int(value)
    if not minimum <= period <= maximum:
        raise IndicatorError(
            f"{func}: argument '{arg}' must be in [{minimum}, {maximum}], got {period}"
        )
    return period


def check_real(func: str, arg: str, value: object, bound: float) -> float:
    """Return `value` as a finite float in [-bound, bound], or raise IndicatorError."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise IndicatorError(f"{func}: argument '{arg}' must be a number, got {value!r}")
    real = float(value)
    if not math.isfinite(real) or abs(real) > bound:
        raise IndicatorError(
            f"{func}: argument '{arg}' must be finite and in [{-bound:g}, {bound:g}], "
            f"got {real!r}"
        )
    return real
