"""`open_feed`: build a feed from the command line's `--feed` value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from engine.errors import ConfigError
from engine.market.feeds.base import Feed, check_bars, check_symbols
from engine.market.feeds.interval import parse_interval
from engine.market.feeds.simulated import DEFAULT_SEED

DEFAULT_SIM_BARS: Final = 10_000
DEFAULT_INTERVAL: Final = "1m"
DEFAULT_WS_URL: Final = "wss://stream.binance.com:9443"
DEFAULT_REST_URL: Final = "https://api.binance.com"
VALID_SPECS: Final = "sim, csv:PATH or binance"
#: Closed bars a live feed fetches before its first live bar unless told (``--history``).
DEFAULT_HISTORY: Final = 200


def split_symbols(symbols: str | Iterable[str]) -> tuple[str, ...]:
    """ "BTCUSDT,ETHUSDT" or a list of names → a checked tuple of symbols."""
    if isinstance(symbols, str):
        symbols = [s for s in symbols.split(",") if s.strip()]
    return check_symbols(symbols)


def open_feed(
    spec: str,
    symbols: str | Iterable[str],
    *,
    seed: int = DEFAULT_SEED,
    bars: int | None = None,
    interval: str = DEFAULT_INTERVAL,
    ws_url: str = DEFAULT_WS_URL,
    rest_url: str = DEFAULT_REST_URL,
    history: int = 0,
) -> Feed:
    """Open the feed named by `spec`:

    * ``sim`` — `SimulatedFeed` (``bars`` per symbol, DEFAULT_SIM_BARS when None);
    * ``csv:PATH`` — `CsvFeed` of one file: one symbol, or a file with a
      ``symbol`` column holding the symbols asked for;
    * ``binance`` — live `BinanceFeed` at `ws_url` / `rest_url`, warmed up with the
      last `history` closed bars.

    `bars` is the per-symbol limit (None: none, except for ``sim``). Raises
    ConfigError for a bad spec, symbol list, bar limit or interval, FeedError for
    a CSV file that cannot be read or has no recognisable format.
    """
    names = split_symbols(symbols)
    bars = check_bars(bars)
    kind, rest = check_spec(spec)
    if kind == "sim":
        from engine.market.feeds.simulated import SimulatedFeed

        count = DEFAULT_SIM_BARS if bars is None else bars
        return SimulatedFeed(names, seed=seed, bars=count, interval_ms=parse_interval(interval))
    if kind == "csv":
        from engine.market.feeds.csv_feed import CsvFeed

        return CsvFeed(rest, names, bars=bars)
    from engine.market.feeds.binance import BinanceFeed

    return BinanceFeed(names, interval, ws_url, rest_url, bars=bars, history=history)


def check_spec(spec: str) -> tuple[str, str]:
    """``"csv: bars.csv"`` → ``("csv", "bars.csv")``; ``"sim"`` → ``("sim", "")``.

    Checks the form only (no file is opened); ConfigError for anything but
    sim, csv:PATH or binance.
    """
    kind, _, rest = spec.strip().partition(":")
    if (kind in ("sim", "binance") and not rest) or (kind == "csv" and rest.strip()):
        return kind, rest.strip()
    raise ConfigError(f"invalid feed {spec!r}: expected {VALID_SPECS}")
