"""What a run hands its statistics (engine/report/stats.py): each closed trade as a
``TradeRecord``, and the statistics as JSON-ready values.

Its own module, apart from engine/run/reporting.py (the report read back from a
journal), so that a run imports neither the report's model nor its loading code:
≈ 4 ms of a run's start-up (bench/startup.py, ``-X importtime``).
"""

from __future__ import annotations

import dataclasses

from engine.report.stats import Statistics, TradeRecord
from engine.state import ClosedTrade


def closed_trade_record(t: ClosedTrade) -> TradeRecord:
    """A ``ClosedTrade`` as a TradeRecord: what the statistics need of it."""
    return TradeRecord(str(t.side), t.quantity, t.entry_time, t.entry_price, t.exit_time,
                       t.exit_price, t.fees, t.pnl, str(t.exit_reason))


def statistics_json(stats: Statistics) -> dict[str, object]:
    """The statistics as JSON-ready values (None for undefined)."""
    return dataclasses.asdict(stats)
