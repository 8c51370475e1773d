"""Feed statistics and the bounded record of rejected input (docs/design.md §2).

Every feed owns one `FeedStats`. Counters only grow; `records` keeps the most
recent rejections (bounded, so a feed full of garbage cannot exhaust memory) and
`drain()` hands the new ones to the journal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

RejectKind = Literal["malformed", "invalid", "conflict", "out_of_order", "duplicate"]

MAX_RECORDS: Final = 10_000
MAX_RAW_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class RejectRecord:
    """One input record that did not become a bar.

    `where` is "path:line" for files, "ws" / "rest" plus a shortened raw message
    for the live feed; `timestamp` is the bar open time (ms) when it was readable.
    """

    kind: RejectKind
    symbol: str | None
    timestamp: int | None
    where: str
    reason: str


@dataclass(slots=True)
class FeedStats:
    """Counters of one feed.

    `rejected_bars` counts every input record that did not become a bar except
    identical duplicates: it is `malformed` (unparseable) + `out_of_order` +
    invalid bars (failed validation) + conflicting duplicates. `duplicate_bars`
    counts identical duplicates, dropped silently apart from this count.
    """

    bars: int = 0
    rejected_bars: int = 0
    duplicate_bars: int = 0
    out_of_order: int = 0
    malformed: int = 0
    reconnects: int = 0
    backfilled: int = 0
    records_dropped: int = 0
    records: deque[RejectRecord] = field(default_factory=lambda: deque(maxlen=MAX_RECORDS))

    def reject(
        self,
        kind: RejectKind,
        where: str,
        reason: str,
        symbol: str | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Count one rejected record and remember it (oldest forgotten when full)."""
        if kind == "duplicate":
            self.duplicate_bars += 1
        else:
            self.rejected_bars += 1
            if kind == "malformed":
                self.malformed += 1
            elif kind == "out_of_order":
                self.out_of_order += 1
        if len(self.records) == self.records.maxlen:
            self.records_dropped += 1
        self.records.append(RejectRecord(kind, symbol, timestamp, where, reason))

    def drain(self) -> list[RejectRecord]:
        """Remove and return the records kept so far (oldest first), e.g. for the journal."""
        out = list(self.records)
        self.records.clear()
        return out


def shorten(raw: str | bytes, limit: int = MAX_RAW_CHARS) -> str:
    """A printable, bounded excerpt of a raw message for a reject record."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text if len(text) <= limit else text[: limit - 1] + "…"
