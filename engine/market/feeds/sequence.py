"""The per-symbol ordering rule of docs/design.md §2, shared by every feed.

Per symbol, timestamps strictly increase. A bar with the timestamp of an
already-accepted one is a duplicate: identical → dropped (counted as
`duplicate`), different → rejected (`conflict`). An older one that is not
remembered is rejected as `out_of_order`.
"""

from __future__ import annotations

from typing import Literal

from engine.market.bar import Bar

Verdict = Literal["accept", "duplicate", "conflict", "out_of_order"]


class SequenceGuard:
    """Remembers the last `memory` accepted bars per symbol and judges new ones.

    `memory` > 1 lets the live feed recognise a re-sent older bar (REST backfill
    overlapping the WebSocket stream) as a duplicate rather than out of order.
    """

    def __init__(self, memory: int = 1) -> None:
        if memory < 1:
            raise ValueError(f"memory must be >= 1, got {memory}")
        self._memory = memory
        self._recent: dict[str, dict[int, Bar]] = {}
        self._last: dict[str, int] = {}

    def last_timestamp(self, symbol: str) -> int | None:
        """Open time of the newest accepted bar of `symbol`, None before the first."""
        return self._last.get(symbol)

    def check(self, bar: Bar) -> Verdict:
        """Judge `bar`; when the verdict is "accept" it becomes the newest bar."""
        symbol, ts = bar.symbol, bar.timestamp
        last = self._last.get(symbol)
        if last is None or ts > last:
            self._remember(symbol, bar)
            return "accept"
        seen = self._recent[symbol].get(ts)
        if seen is None:
            return "out_of_order"
        return "duplicate" if seen == bar else "conflict"

    def _remember(self, symbol: str, bar: Bar) -> None:
        recent = self._recent.setdefault(symbol, {})
        recent[bar.timestamp] = bar
        if len(recent) > self._memory:
            del recent[next(iter(recent))]
        self._last[symbol] = bar.timestamp
