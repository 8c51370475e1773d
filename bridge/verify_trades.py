"""The execution cross-check of ``python -m engine verify``.

Each example strategy (strategies/*.lua) runs in process over the verify data
(``engine.run.backtest``, journal in a temporary directory) with an observer
that replays every bar's trading into an OCaml book (``bridge.shadow.trades``,
the same comparison as shadow mode, synchronously in batches). One row per
strategy: bars and fills compared, fills on bit-identical bars, mismatches and
the largest difference of a differing float.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from bridge.shadow.settings import RateLimitedLog, ShadowConfig, ShadowStats
from bridge.shadow.trades import OpenBook, TradeCandidate, TradeEvent
from engine.market.bar import Bar
from engine.observer import IndicatorValue, Params
from engine.run.trades import BarTrading
from engine.state import Costs, Execution

if TYPE_CHECKING:
    from engine.run.config import VerifyConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "strategies"
_BATCH = 1024


class ExecutionCheck:
    """A run observer that only checks trades (indicator events are ignored)."""

    def __init__(self) -> None:
        self.stats = ShadowStats()
        self.candidate = TradeCandidate(ShadowConfig(), None, self.stats, RateLimitedLog(5.0))
        self._events: list[OpenBook | TradeEvent] = []

    def stream_opened(self, symbol: str, name: str, params: Params,
                      history: Mapping[str, npt.NDArray[np.float64]],
                      value: IndicatorValue) -> None:
        """Not checked here (the indicator cross-check covers indicators)."""

    def bar_values(self, symbol: str, bar: Bar, values: Sequence[float | None]) -> None:
        """Not checked here."""

    def book_opened(self, symbol: str, costs: Costs, execution: Execution) -> None:
        """Open the symbol's book."""
        self._events.append(("open", symbol, costs, execution))

    def bar_traded(self, symbol: str, bar: Bar, trading: BarTrading) -> None:
        """Replay one bar (in batches)."""
        self._events.append((symbol, bar, trading))
        if len(self._events) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        self.candidate.process(self._events)
        self._events = []

    def summary(self) -> Mapping[str, object]:
        """Nothing for the run summary: verify reports ``row``."""
        return {}

    def close(self) -> None:
        """Check what is left, stop the server."""
        self._flush()
        self.candidate.close()

    def row(self, strategy: str) -> dict[str, Any]:
        """The report row of this strategy's run."""
        t = self.candidate.trades
        return {"strategy": strategy, "bars": t.bars, "trades": t.closed, "fills": t.fills,
                "identical_fills": t.identical_fills, "mismatches": t.mismatches,
                "max_difference": t.max_difference, "errors": self.stats.errors,
                "ok": t.mismatches == 0 and self.stats.errors == 0 and t.unchecked == 0}


def execution_rows(args: VerifyConfig) -> list[dict[str, Any]]:
    """One row per example strategy over the verify data (see the module doc)."""
    from engine.run import backtest
    from engine.run.config import RunConfig

    rows = []
    with tempfile.TemporaryDirectory(prefix="tandem-verify-") as tmp:
        for path in sorted(EXAMPLES.glob("*.lua")):
            check = ExecutionCheck()
            feed = f"csv:{args.data}" if args.data else "sim"
            config = RunConfig(strategy=path, feed=feed, seed=args.seed,
                               bars=None if args.data else args.bars,
                               journal=Path(tmp) / f"{path.stem}.sqlite")
            backtest(config, observer_factory=lambda _c, _j, check=check: check)  # type: ignore[misc]
            rows.append(check.row(path.stem))
    return rows
