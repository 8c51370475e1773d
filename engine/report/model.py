"""The data a report is made of: plain typed values that the command line fills from a journal.

One ``ReportModel`` per run: its status, one ``SymbolReport`` per symbol (bars,
equity, trades, statistics) and the shadow-mode result. Drawdown and buy & hold
are not stored: they are derived from the equity and the closes where drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError
from engine.report.stats import EquitySeries, Statistics, TradeRecord


class RunStatus(StrEnum):
    """A run's status, spelled as the journal's ``runs.status`` column."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    @property
    def label(self) -> str:
        """How the report names it."""
        return {"running": "in progress", "finished": "complete"}.get(self.value, self.value)

    @property
    def partial(self) -> bool:
        """True when the report covers only part of what the run was to do."""
        return self is not RunStatus.FINISHED


@dataclass(frozen=True, slots=True)
class Bars:
    """One symbol's bars: ``timestamps`` (ms, bar open time, strictly increasing) and
    the finite, positive ``open``/``high``/``low``/``close`` prices, all one length."""

    timestamps: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamps", np.asarray(self.timestamps, dtype=np.int64))
        n = self.timestamps.shape
        for name in ("open", "high", "low", "close"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            object.__setattr__(self, name, arr)
            if arr.shape != n or arr.ndim != 1:
                raise ConfigError(f"bars: {name} {arr.shape} and timestamps {n} must be 1-D "
                                  "arrays of one length")
            if not np.all(np.isfinite(arr) & (arr > 0.0)):
                i = int(np.argmin(np.isfinite(arr) & (arr > 0.0)))
                raise ConfigError(f"bars: {name}[{i}] = {float(arr[i])!r} must be finite and > 0")
        if self.timestamps.size > 1 and not np.all(np.diff(self.timestamps) > 0):
            raise ConfigError("bars: timestamps must be strictly increasing")

    def __len__(self) -> int:
        return int(self.timestamps.size)


@dataclass(frozen=True, slots=True)
class SymbolReport:
    """What the report shows of one symbol. ``price_bucket``: the bars are a sample of
    one bar in ``price_bucket`` (the journal's long runs), never drawn as candles."""

    symbol: str
    bars: Bars
    equity: EquitySeries
    trades: Sequence[TradeRecord]
    statistics: Statistics
    price_bucket: int = 1


@dataclass(frozen=True, slots=True)
class MismatchRecord:
    """A shadow-mode disagreement, named as the journal's ``shadow_mismatches`` columns."""

    symbol: str
    timestamp: int
    indicator: str
    params: Sequence[int | float]
    output: str
    python_value: float | None
    ocaml_value: float | None
    scaled_error: float | None
    ulp_distance: int | None


@dataclass(frozen=True, slots=True)
class ShadowResult:
    """Shadow mode's counters (as the run summary's ``shadow``) and its mismatch list."""

    compared: int
    mismatches: int
    errors: int = 0
    dropped: int = 0
    mismatch_list: Sequence[MismatchRecord] = field(default=())


@dataclass(frozen=True, slots=True)
class ReportModel:
    """A whole run. ``note`` says what a partial report covers (e.g. "bars up to …")."""

    run_id: int | None
    status: RunStatus
    symbols: Sequence[SymbolReport]
    shadow: ShadowResult | None = None
    title: str = "Tandem run"
    strategy: str = ""
    note: str = ""
