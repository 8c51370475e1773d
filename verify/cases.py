"""One cross-check input: an indicator, its parameters and an OHLCV series.

``Case.__repr__`` prints a ``Case.of(...)`` call with exact float reprs, so a
falsifying example hypothesis prints can be pasted into ``verify/pinned.py``
as it is and replays bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class Case:
    """Indicator ``name`` with ``params`` over ``data`` (one array per field of FIELDS).

    ``split`` is where streaming implementations switch from seeding (the
    bars before it are passed as history) to per-bar updates.
    """

    name: str
    params: tuple[int | float, ...]
    data: Mapping[str, FloatArray] = field(repr=False)
    split: int = 0

    @classmethod
    def of(
        cls,
        name: str,
        params: Sequence[int | float],
        split: int = 0,
        **columns: Sequence[float],
    ) -> Case:
        """Build a case from plain lists; ``close`` is required, missing fields
        default to the close (prices) or to 1.0 (volume)."""
        close = np.asarray(columns["close"], dtype=np.float64)
        data: dict[str, FloatArray] = {}
        for f in FIELDS:
            if f in columns:
                data[f] = np.asarray(columns[f], dtype=np.float64)
            else:
                data[f] = np.ones_like(close) if f == "volume" else close.copy()
        return cls(name, tuple(params), data, split)

    def __len__(self) -> int:
        return int(self.data["close"].shape[0])

    def __repr__(self) -> str:
        cols = ", ".join(f"{f}={[float(v) for v in self.data[f]]!r}" for f in FIELDS)
        return f"Case.of({self.name!r}, {self.params!r}, split={self.split}, {cols})"

    def short(self) -> str:
        """``name(params)`` and the series length, for headlines."""
        args = ", ".join(repr(p) for p in self.params)
        return f"{self.name}({args}) on {len(self)} bars (stream split at {self.split})"
