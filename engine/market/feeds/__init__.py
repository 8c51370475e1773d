"""Market-data feeds: simulated, CSV replay and live Binance klines (docs/design.md §2, §8).

Every feed is an async iterator of validated, closed `Bar`s with `.stats`
(`FeedStats`) and `.total`; `open_feed` builds one from a command-line spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.market.feeds.base import Feed
from engine.market.feeds.csv_feed import CsvFeed
from engine.market.feeds.interval import parse_interval
from engine.market.feeds.simulated import SimulatedFeed
from engine.market.feeds.spec import DEFAULT_SIM_BARS, open_feed
from engine.market.feeds.stats import FeedStats, RejectRecord

if TYPE_CHECKING:
    from engine.market.feeds.arrays import ArrayFeed, BarArrays
    from engine.market.feeds.binance import BinanceFeed, Timing


def __getattr__(name: str) -> object:
    """Import the Binance feed (and websockets) only when it is asked for, and the
    column feed of sweeps (a run over a file or the simulation does without it:
    ≈ 5 ms of start-up by -X importtime)."""
    if name in ("BinanceFeed", "Timing"):
        from engine.market.feeds import binance

        return getattr(binance, name)
    if name in ("ArrayFeed", "BarArrays"):
        from engine.market.feeds import arrays

        return getattr(arrays, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_SIM_BARS",
    "ArrayFeed",
    "BarArrays",
    "BinanceFeed",
    "CsvFeed",
    "Feed",
    "FeedStats",
    "RejectRecord",
    "SimulatedFeed",
    "Timing",
    "open_feed",
    "parse_interval",
]
