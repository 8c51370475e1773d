"""The observer interface through which the runner reports what a strategy saw.

It sits just above the market layer (it names ``Bar``) and below every layer
that uses it: the indicator API (layer 2) reports to it; a run
(``engine.run.session.backtest``) builds one with its ``observer_factory(config,
journal)`` and closes it at the end. The engine defines it and never imports ``bridge``; shadow mode
(``bridge/shadow.py``) implements it and the command line wires it in.
An observer must never block or raise into the run: implementations do their
work off the hot path and swallow (and count) their own failures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from engine.market.bar import Bar

#: One indicator output as served to a strategy: a float, a tuple of floats for
#: multi-output indicators (in docs/design.md §3 order), or None during warm-up.
IndicatorValue = float | tuple[float, ...] | None

#: Indicator parameters in docs/design.md §3 argument order, e.g. (12, 26, 9).
Params = tuple[int | float, ...]


class RunObserver(Protocol):
    """Sees every stream a strategy opens and every value it is served."""

    def stream_opened(
        self,
        symbol: str,
        name: str,
        params: Params,
        history: Mapping[str, npt.NDArray[np.float64]],
        value: IndicatorValue,
    ) -> None:
        """A stream ``name(params)`` was created, seeded with ``history``.

        ``history`` maps "high", "low", "close", "volume" to the window's
        retained bars, oldest first, *including* the current bar; ``value``
        is what the seeded stream served for the current bar. Later bars
        arrive through ``bar_values``.
        """

    def bar_values(
        self,
        symbol: str,
        bar: Bar,
        values: Sequence[float | None],
    ) -> None:
        """The value after ``bar`` of each stream opened before ``bar``.

        ``values`` is a copy of ``IndicatorApi.values``: flat, in the order the
        streams were opened (as reported by ``stream_opened``), a multi-output
        stream taking one slot per output, None during warm-up. (Flat, because
        a list of floats is the cheapest thing to build and to keep per bar.)
        """

    def summary(self) -> Mapping[str, object]:
        """Counters for the run summary (for shadow mode: compared,
        mismatches, errors, dropped, latency)."""

    def close(self) -> None:
        """Flush and stop; called once at the end of the run."""
