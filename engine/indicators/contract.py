"""The agreement contract between indicator implementations (docs/design.md §3).

Two implementations of an indicator agree on an input when they put NaN at the
same positions and every other pair of outputs ``a``, ``b`` satisfies

* ``|a - b| <= 1e-9 * max(1, max|input|)`` for price-scaled outputs,
* ``|a - b| <= 1e-7`` for the bounded oscillators (RSI, STOCH, WILLR, MFI, ADX),
* ``|a - b| <= 1e-7 * max(1, |a|, |b|)`` for CCI.

``max|input|`` is taken over every input array of the indicator (prices and,
for OBV and MFI, volume) and over the whole series. The *scaled error* is
``|a - b|`` divided by that bound, so the contract holds exactly when the
largest scaled error is at most 1. The *ULP distance* counts the float64
values between ``a`` and ``b`` (0 = bit-identical up to the sign of zero).

Everything here is pure and works on numpy arrays (vectorised, fast on 10^6
points) as well as on single floats (shadow mode compares one value at a
time). Used by ``verify/``, ``python -m engine verify`` and shadow mode.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from engine.indicators.registry import SPECS
from engine.indicators.registry import Tolerance as ToleranceKind

FloatArray = npt.NDArray[np.float64]

PRICE_RTOL = 1e-9
OSCILLATOR_ATOL = 1e-7
CCI_RTOL = 1e-7

_SIGN_BIT = 1 << 63
_MAGNITUDE = np.int64(_SIGN_BIT - 1)


_KIND_NAMES: Mapping[str, ToleranceKind] = {
    "price": "price",
    "oscillator": "oscillator",
    "cci": "cci",
}


def tolerance_kind(name: str) -> ToleranceKind:
    """The tolerance kind of indicator ``name`` (any case; the registry's ``tolerance``);
    a kind maps to itself, any other name to "price"."""
    key = name.lower()
    spec = SPECS.get(key)
    return spec.tolerance if spec is not None else _KIND_NAMES.get(key, "price")


def input_scale(inputs: Mapping[str, FloatArray] | Iterable[FloatArray] | float) -> float:
    """``max(1, max|input|)`` over every input array (or an already known maximum).

    Non-finite inputs are ignored (they are rejected before any comparison).
    """
    if isinstance(inputs, int | float):
        return max(1.0, abs(float(inputs)))
    arrays = inputs.values() if isinstance(inputs, Mapping) else inputs
    scale = 1.0
    for arr in arrays:
        a = np.abs(np.asarray(arr, dtype=np.float64))
        a = a[np.isfinite(a)]
        if a.size:
            scale = max(scale, float(a.max()))
    return scale


def tolerance(
    name: str, inputs: Mapping[str, FloatArray] | Iterable[FloatArray] | float
) -> float:
    """The absolute bound of indicator ``name`` before any value-dependent factor.

    Price-scaled: ``1e-9 * max(1, max|input|)``; oscillators: ``1e-7``; CCI:
    ``1e-7`` (multiplied per value by ``max(1, |a|, |b|)``, see ``bound``).
    """
    kind = tolerance_kind(name)
    if kind == "price":
        return PRICE_RTOL * input_scale(inputs)
    return OSCILLATOR_ATOL if kind == "oscillator" else CCI_RTOL


def bound(
    kind: str, scale: float, a: float | FloatArray, b: float | FloatArray
) -> float | FloatArray:
    """The allowed ``|a - b|`` (per value for CCI), given ``scale = max(1, max|input|)``.

    ``kind`` is a tolerance kind or an indicator name.
    """
    kind = tolerance_kind(kind)
    if kind == "price":
        return PRICE_RTOL * scale
    if kind == "oscillator":
        return OSCILLATOR_ATOL
    if isinstance(a, float) and isinstance(b, float):
        return CCI_RTOL * max(1.0, abs(a), abs(b))
    return CCI_RTOL * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))


@overload
def scaled_error(kind: str, scale: float, a: float, b: float) -> float: ...
@overload
def scaled_error(kind: str, scale: float, a: FloatArray, b: FloatArray) -> FloatArray: ...
def scaled_error(
    kind: str, scale: float, a: float | FloatArray, b: float | FloatArray
) -> float | FloatArray:
    """``|a - b| / bound``: at most 1 inside the contract. Equal values (inf too) give 0.

    ``kind`` is a tolerance kind or an indicator name; ``scale`` is
    ``max(1, max|input|)`` (see ``input_scale``).

    NaN in either value gives NaN (NaN positions are compared separately).
    """
    if isinstance(a, float) and isinstance(b, float):
        if a == b:
            return 0.0
        return float(abs(a - b) / bound(kind, scale, a, b))
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a_arr - b_arr) / bound(kind, scale, a_arr, b_arr)
    err[a_arr == b_arr] = 0.0
    return err


def _ordered_scalar(x: float) -> int:
    bits: int = struct.unpack("<q", struct.pack("<d", x))[0]
    return -(bits & (_SIGN_BIT - 1)) if bits < 0 else bits


def _ordered(x: FloatArray) -> npt.NDArray[np.int64]:
    """Map float64 bits to int64 so that integer order = float order (-0.0 -> 0)."""
    bits = np.ascontiguousarray(x, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, -(bits & _MAGNITUDE), bits)


@overload
def ulp_distance(a: float, b: float) -> int: ...
@overload
def ulp_distance(a: FloatArray, b: FloatArray) -> npt.NDArray[np.uint64]: ...
def ulp_distance(a: float | FloatArray, b: float | FloatArray) -> int | npt.NDArray[np.uint64]:
    """The number of float64 steps between ``a`` and ``b`` (0 for 0.0 vs -0.0).

    Meaningless where either value is NaN (callers mask NaN first).
    """
    if isinstance(a, float) and isinstance(b, float):
        return abs(_ordered_scalar(a) - _ordered_scalar(b))
    oa = _ordered(np.asarray(a, dtype=np.float64))
    ob = _ordered(np.asarray(b, dtype=np.float64))
    ua, ub = oa.view(np.uint64), ob.view(np.uint64)
    # Modular uint64 subtraction, larger minus smaller, is the exact distance (< 2**64).
    return np.where(oa >= ob, ua - ub, ub - ua)


@dataclass(frozen=True, slots=True)
class ValueCheck:
    """One compared pair of values."""

    ok: bool
    scaled_error: float
    ulp: int


def check_value(name: str, a: float | None, b: float | None, scale: float) -> ValueCheck:
    """Compare one pair of scalar outputs (shadow mode). None and NaN both mean "no value".

    ``scale`` is ``max(1, max|input|)`` of the series the values came from
    (see ``input_scale``). A value against no value fails with an infinite error.
    """
    a_nan = a is None or math.isnan(a)
    b_nan = b is None or math.isnan(b)
    if a_nan or b_nan:
        return ValueCheck(a_nan and b_nan, 0.0 if a_nan and b_nan else math.inf, 0)
    assert a is not None and b is not None
    err = scaled_error(tolerance_kind(name), scale, float(a), float(b))
    return ValueCheck(err <= 1.0, err, ulp_distance(float(a), float(b)))


@dataclass(frozen=True, slots=True)
class Failure:
    """The first position where two outputs break the contract."""

    output: str
    index: int
    a: float
    b: float
    scaled_error: float
    ulp: int
    reason: str  # "value" or "nan-mask"

    def describe(self) -> str:
        """One line a person can act on."""
        if self.reason == "nan-mask":
            return (
                f"output {self.output!r} index {self.index}: NaN mask differs "
                f"(a={self.a!r}, b={self.b!r})"
            )
        return (
            f"output {self.output!r} index {self.index}: a={self.a!r} b={self.b!r} "
            f"|a-b|={abs(self.a - self.b):.3e} scaled error={self.scaled_error:.3g} "
            f"ULP distance={self.ulp}"
        )


@dataclass(frozen=True, slots=True)
class OutputReport:
    """Agreement of one output array (e.g. MACD's signal line)."""

    output: str
    compared: int
    mask_mismatches: int
    max_scaled_error: float
    max_ulp: int
    bit_identical: int
    worst_index: int | None
    first_failure: Failure | None


@dataclass(frozen=True, slots=True)
class Report:
    """Agreement of two implementations of one indicator on one input."""

    name: str
    kind: ToleranceKind
    scale: float
    outputs: tuple[OutputReport, ...]

    @property
    def ok(self) -> bool:
        """True when every output has the same NaN mask and stays inside the bound."""
        return all(o.first_failure is None for o in self.outputs)

    @property
    def compared(self) -> int:
        """Number of value pairs compared (non-NaN in both), over all outputs."""
        return sum(o.compared for o in self.outputs)

    @property
    def max_scaled_error(self) -> float:
        """Largest scaled error over all outputs (0 when nothing was compared)."""
        return max((o.max_scaled_error for o in self.outputs), default=0.0)

    @property
    def max_ulp(self) -> int:
        """Largest ULP distance over all outputs."""
        return max((o.max_ulp for o in self.outputs), default=0)

    @property
    def bit_identical_share(self) -> float:
        """Share of compared values that are bit-identical (1.0 when none compared)."""
        total = self.compared
        return 1.0 if total == 0 else sum(o.bit_identical for o in self.outputs) / total

    @property
    def first_failure(self) -> Failure | None:
        """The failure with the smallest index over all outputs, if any."""
        fails = [o.first_failure for o in self.outputs if o.first_failure is not None]
        return min(fails, key=lambda f: f.index) if fails else None

    def describe(self) -> str:
        """A short summary: agreement numbers and the first failure."""
        head = (
            f"{self.name}: {self.compared} values compared, max scaled error "
            f"{self.max_scaled_error:.3g}, max ULP {self.max_ulp}, "
            f"{100.0 * self.bit_identical_share:.2f}% bit-identical"
        )
        fail = self.first_failure
        return head if fail is None else f"{head}; FAILS at {fail.describe()}"


def _compare_output(
    output: str, kind: ToleranceKind, scale: float, a: FloatArray, b: FloatArray
) -> OutputReport:
    if a.shape != b.shape:
        raise ValueError(f"output {output!r}: shapes differ, {a.shape} vs {b.shape}")
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    mask_bad = nan_a != nan_b
    both = ~(nan_a | nan_b)
    idx = np.flatnonzero(both)
    va, vb = a[idx], b[idx]
    err = scaled_error(kind, scale, va, vb)
    ulp = ulp_distance(va, vb)
    bad_value = idx[~(err <= 1.0)]
    first_mask = int(np.argmax(mask_bad)) if mask_bad.any() else None
    first_value = int(bad_value[0]) if bad_value.size else None
    failure = _first_failure(output, a, b, first_mask, first_value, kind, scale)
    worst = int(idx[int(np.argmax(err))]) if idx.size else None
    return OutputReport(
        output=output,
        compared=int(idx.size),
        mask_mismatches=int(mask_bad.sum()),
        max_scaled_error=float(err.max()) if idx.size else 0.0,
        max_ulp=int(ulp.max()) if idx.size else 0,
        bit_identical=int(np.count_nonzero(va.view(np.int64) == vb.view(np.int64))),
        worst_index=worst,
        first_failure=failure,
    )


def _first_failure(
    output: str,
    a: FloatArray,
    b: FloatArray,
    first_mask: int | None,
    first_value: int | None,
    kind: ToleranceKind,
    scale: float,
) -> Failure | None:
    candidates = [i for i in (first_mask, first_value) if i is not None]
    if not candidates:
        return None
    i = min(candidates)
    x, y = float(a[i]), float(b[i])
    if i == first_mask:
        return Failure(output, i, x, y, math.inf, 0, "nan-mask")
    return Failure(output, i, x, y, scaled_error(kind, scale, x, y), ulp_distance(x, y), "value")


def _as_outputs(
    value: FloatArray | Sequence[FloatArray], names: Sequence[str] | None
) -> list[tuple[str, FloatArray]]:
    if isinstance(value, np.ndarray):
        arrays: list[FloatArray] = [value]
    else:
        arrays = [np.asarray(v, dtype=np.float64) for v in value]
    if names is None:
        fields = getattr(value, "_fields", None)
        names = tuple(fields) if fields else ("value",) if len(arrays) == 1 else tuple(
            f"out{i}" for i in range(len(arrays))
        )
    if len(names) != len(arrays):
        raise ValueError(f"{len(arrays)} outputs but {len(names)} names: {tuple(names)}")
    return [(n, np.asarray(arr, dtype=np.float64)) for n, arr in zip(names, arrays, strict=True)]


def compare(
    name: str,
    a: FloatArray | Sequence[FloatArray],
    b: FloatArray | Sequence[FloatArray],
    inputs: Mapping[str, FloatArray] | Iterable[FloatArray] | float,
    *,
    outputs: Sequence[str] | None = None,
) -> Report:
    """Compare two implementations' outputs of indicator ``name`` on ``inputs``.

    ``a`` and ``b`` are one array or a sequence of arrays (multi-output
    indicators, e.g. a ``Macd`` NamedTuple, whose field names are used unless
    ``outputs`` names them). ``inputs`` are the indicator's input arrays (or
    their ``max(1, max|input|)``), which set the price-scaled bound.
    """
    kind = tolerance_kind(name)
    scale = input_scale(inputs)
    pa = _as_outputs(a, outputs)
    pb = _as_outputs(b, outputs or [n for n, _ in pa])
    if len(pa) != len(pb):
        raise ValueError(f"{name}: {len(pa)} outputs vs {len(pb)}")
    reports = tuple(
        _compare_output(n, kind, scale, x, y) for (n, x), (_, y) in zip(pa, pb, strict=True)
    )
    return Report(name=name.lower(), kind=kind, scale=scale, outputs=reports)
