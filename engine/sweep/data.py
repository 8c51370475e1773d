"""A sweep's data, read once: every symbol's accepted bars as columns (``BarArrays``).

The feed (``sim`` or ``csv:PATH``; a live feed has no end to sweep over) is opened
and read to its end — or ``bars`` per symbol — exactly as ``run`` would read it,
in the sweep's own process; bad records are counted and skipped as usual (their
count and reasons are kept in ``Dataset.rejected``, once for the whole sweep). Every
run of the sweep then replays these columns (``ArrayFeed``): no run parses the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import ConfigError
from engine.market.bar import Bar
from engine.market.feeds import open_feed
from engine.market.feeds.arrays import BarArrays
from engine.market.feeds.interval import parse_interval
from engine.market.feeds.spec import check_spec
from engine.market.feeds.stats import RejectRecord
from engine.run.config import RunConfig


@dataclass(frozen=True, slots=True)
class Dataset:
    """Symbol → its bars; the interval; the feed's rejected records."""

    arrays: Mapping[str, BarArrays]
    interval_ms: int
    rejected: tuple[RejectRecord, ...] = ()

    def fingerprint(self) -> str:
        """sha256 of every column: the same data gives the same sweep identity."""
        h = hashlib.sha256()
        for symbol, a in sorted(self.arrays.items()):
            h.update(symbol.encode())
            for col in (a.timestamp, a.open, a.high, a.low, a.close, a.volume, a.bid, a.ask):
                h.update(b"-" if col is None else col.tobytes())
        return h.hexdigest()


def load_dataset(config: RunConfig) -> Dataset:
    """Read ``config.feed`` for ``config.symbols`` once (ConfigError for a live feed,
    FeedError for an unreadable file, ConfigError for a symbol without bars)."""
    kind, _ = check_spec(config.feed)
    if kind == "binance":
        raise ConfigError("sweep --feed binance: a sweep needs a finite feed (sim or csv:PATH)")
    feed = open_feed(config.feed, config.symbols, seed=config.seed, bars=config.bars,
                     interval=config.interval)
    per_symbol: dict[str, list[Bar]] = {s: [] for s in config.symbols}
    limit = config.bars
    for bar in feed.iter_bars():  # type: ignore[attr-defined]
        rows = per_symbol.get(bar.symbol)
        if rows is not None and (limit is None or len(rows) < limit):
            rows.append(bar)
    empty = [s for s, rows in per_symbol.items() if not rows]
    if empty:
        raise ConfigError(f"--feed {config.feed}: no bars for {', '.join(empty)}")
    return Dataset(
        {s: BarArrays.from_bars(s, rows) for s, rows in per_symbol.items()},
        parse_interval(config.interval),
        tuple(feed.stats.drain()),
    )
