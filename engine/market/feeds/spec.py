"""`open_feed`: build a feed from the command line's `--feed` value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from engine.errors import ConfigError
from engine.market.feeds.base import Feed, check_bars, check_symbols
from engine.market.feeds.interval import parse_interval

DEFAULT_SIM_BARS: Final = 10_000
DEFAULT_WS_URL: Final = "wss://stream.binance.com:9443"
DEFAULT_REST_URL: Final = "https://api.binance.com"
VALID_SPECS: Final = "sim, csv:PATH or binance"


def split_symbols(symbols: str | Iterable[str]) -> tuple[str, ...]:
    """ "BTCUSDT,ETHUSDT" or a list of names → a checked tuple of symbols."""
    if isinstance(symbols, str):
        symbols = [s for s in symbols.split(",") if s.strip()]
    return check_symbols(symbols)


def open_feed(
    spec: str,
    symbols: str | Iterable[str],
    *,
    seed: int = 42,
    bars: int | None = None,
    interval: str = "1m",
    ws_url: str = DEFAULT_WS_URL,
    rest_url: str = DEFAULT_REST_URL,
) -> Feed:
    """Open the feed named by `spec`:

    * ``sim`` — `SimulatedFeed` (``bars`` per symbol, DEFAULT_SIM_BARS when None);
    * ``csv:PATH`` — `CsvFeed` of one file: one symbol, or a file with a
      ``symbol`` column holding the symbols asked for;
    * ``binance`` — live `BinanceFeed` at `ws_url` / `rest_url`.

    `bars` is the per-symbol limit (None: none, except for ``sim``). Raises
    ConfigError for a bad spec, symbol list, bar limit or interval, FeedError for
    a CSV file that cannot be read or has no recognisable format.
    """
    names = split_symbols(symbols)
    bars = check_bars(bars)
    kind, _, rest = spec.strip().partition(":")
    if kind == "sim" and not rest:
        from engine.market.feeds.simulated import SimulatedFeed

        count = DEFAULT_SIM_BARS if bars is None else bars
        return SimulatedFeed(names, seed=seed, bars=count, interval_ms=parse_interval(interval))
    if kind == "csv" and rest.strip():
        from engine.market.feeds.csv_feed import CsvFeed

        return CsvFeed(rest.strip(), names, bars=bars)
    if kind == "binance" and not rest:
        from engine.market.feeds.binance import BinanceFeed

        return BinanceFeed(names, interval, ws_url, rest_url, bars=bars)
    raise ConfigError(f"invalid feed {spec!r}: expected {VALID_SPECS}")
