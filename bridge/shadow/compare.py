"""Shadow mode's comparison of a batch of served values with the candidate's.

Bit-identical pairs (and NaN against NaN: both "no value") are the common
case and are settled with one vectorised test; only the other pairs go
through the agreement contract (``engine.indicators.contract.check_value``)
one by one, which gives each its scaled error and ULP distance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.indicators.contract import ValueCheck, check_value

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Difference:
    """A pair that is not bit-identical: where it is and what the contract says."""

    row: int
    column: int
    python: float
    ocaml: float
    check: ValueCheck


def differences(
    python: FloatArray,
    ocaml: FloatArray,
    names: Sequence[str],
    scale: Callable[[int, int], float],
) -> list[Difference]:
    """Every pair of ``python`` vs ``ocaml`` (rows × output columns) that differs.

    ``names[c]`` is the indicator of column ``c``; ``scale(row, column)`` its
    ``max(1, max|input|)`` at that row. NaN matches NaN; 0.0 matches -0.0.
    """
    same = python.view(np.int64) == ocaml.view(np.int64)  # bit-identical: the usual case
    if same.all():
        return []
    same |= (python == ocaml) | (np.isnan(python) & np.isnan(ocaml))
    if same.all():
        return []
    out: list[Difference] = []
    for r, c in zip(*np.nonzero(~same), strict=True):
        row, col = int(r), int(c)
        a, b = float(python[row, col]), float(ocaml[row, col])
        out.append(Difference(row, col, a, b, check_value(names[col], a, b, scale(row, col))))
    return out
