"""Live Binance klines over WebSocket with REST backfill (docs/design.md §8).

One combined-stream connection carries every symbol's `<symbol>@kline_<interval>`
stream. Closed klines become bars. On every reconnect — after a disconnect, a
`serverShutdown` notice, the age limit (Binance closes connections at 24 h) or
the stale-feed watchdog — the gap since each symbol's last bar is fetched from
`GET /api/v3/klines` (paged, open rows dropped) before live messages are read,
and a live bar that skips ahead triggers a backfill of the hole first. Every
bar passes the docs/design.md §2 sequence rule, so overlaps between REST and the
stream are dropped as duplicates: no bar is lost, none is delivered twice.
Unplanned disconnects back off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from engine.errors import ConfigError, FeedError, MarketDataError
from engine.market.bar import Bar
from engine.market.feeds.base import check_bars, check_symbols
from engine.market.feeds.binance_parse import (
    Event,
    Malformed,
    RestKline,
    parse_message,
    parse_rest_row,
)
from engine.market.feeds.binance_rest import (
    MAX_LIMIT,
    RestFailure,
    UnknownSymbol,
    check_symbol,
    fetch_klines,
)
from engine.market.feeds.interval import binance_interval
from engine.market.feeds.sequence import SequenceGuard
from engine.market.feeds.spec import DEFAULT_INTERVAL, DEFAULT_REST_URL, DEFAULT_WS_URL
from engine.market.feeds.stats import FeedStats, shorten

log = logging.getLogger(__name__)

RECENT_BARS: Final = 64  # per symbol, to recognise re-sent bars as duplicates


@dataclass(frozen=True, slots=True)
class Timing:
    """Delays and limits in seconds; tests shrink them to run in a second or two."""

    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    stale_after: float = 90.0  # no message at all for this long → reconnect
    max_connection_age: float = 23.5 * 3600  # reconnect before Binance's 24 h cut
    open_timeout: float = 10.0
    rest_timeout: float = 10.0


class _Reconnect(Exception):
    """Leave the current connection on purpose; `planned` skips the backoff delay."""

    def __init__(self, reason: str, planned: bool) -> None:
        super().__init__(reason)
        self.planned = planned


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class BinanceFeed:
    """Closed klines of several symbols from Binance, as an async iterator of bars.

    `bars` stops after that many bars per symbol. `warm_up()`, awaited before the
    iteration, checks every symbol against Binance and fetches the last `history`
    closed bars of each (not part of the iteration). `max_failures` consecutive
    failed attempts before the first successful connection raise FeedError (a
    wrong URL fails fast); once connected the feed retries for ever.
    """

    def __init__(
        self,
        symbols: Iterable[str],
        interval: str = DEFAULT_INTERVAL,
        ws_url: str = DEFAULT_WS_URL,
        rest_url: str = DEFAULT_REST_URL,
        *,
        bars: int | None = None,
        history: int = 0,
        timing: Timing = Timing(),
        max_failures: int = 5,
        rng: random.Random | None = None,
        now_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.symbols = check_symbols(symbols)  # bars carry the names as given
        bad = [s for s in self.symbols if not (s.isascii() and s.isalnum())]
        if bad:
            raise ConfigError(f"invalid Binance symbol(s) {', '.join(bad)}: expected e.g. BTCUSDT")
        self._streams = {s.lower(): s for s in self.symbols}  # stream name → symbol
        if len(self._streams) != len(self.symbols):
            raise ConfigError(f"symbols repeated in another case: {', '.join(self.symbols)}")
        self.interval, self.interval_ms = interval, binance_interval(interval)
        self.ws_url = _check_url(ws_url, ("ws://", "wss://"), "--binance-ws-url")
        self.rest_url = _check_url(rest_url, ("http://", "https://"), "--binance-rest-url")
        self.bars, self.timing, self.max_failures = check_bars(bars), timing, max_failures
        if isinstance(history, bool) or not isinstance(history, int) or history < 0:
            raise ConfigError(f"history = {history!r}: must be a whole number of bars >= 0")
        self.history = history
        self.stats = FeedStats()
        self._rng = rng or random.Random()
        self._now_ms = now_ms
        self._guard = SequenceGuard(memory=RECENT_BARS)
        self._gen: AsyncGenerator[Bar, None] | None = None
        self._progress = False  # the current connection delivered a valid message

    @property
    def stream_url(self) -> str:
        """The combined-stream URL of all symbols."""
        names = "/".join(f"{s}@kline_{self.interval}" for s in self._streams)
        return f"{self.ws_url.rstrip('/')}/stream?streams={names}"

    @property
    def total(self) -> int | None:
        """`bars` × symbols with a bar limit, else None (live)."""
        return None if self.bars is None else self.bars * len(self.symbols)

    def __aiter__(self) -> AsyncIterator[Bar]:
        if self._gen is not None:
            raise FeedError("the Binance feed was already iterated; create a new one")
        self._gen = self._run()
        return self._gen

    async def aclose(self) -> None:
        """Close the connection (if iterating) and stop."""
        if self._gen is not None:
            await self._gen.aclose()

    async def warm_up(self) -> dict[str, list[Bar]]:
        """Before the first live bar: FeedError for a symbol Binance does not know (REST
        exchangeInfo), then each symbol's last `history` closed bars, oldest first
        (they also start the sequence, so the stream's backfill continues from them)."""
        out: dict[str, list[Bar]] = {}
        for symbol in self.symbols:
            try:
                await check_symbol(self.rest_url, symbol.upper(), self.timing.rest_timeout)
                out[symbol] = await self._history(symbol) if self.history else []
            except UnknownSymbol as exc:
                raise FeedError(f"Binance does not know the symbol {symbol!r} ({exc}); check "
                                "--symbols (e.g. BTCUSDT)") from None
            except (RestFailure, OSError, TimeoutError) as exc:
                raise FeedError(f"cannot start the Binance feed for {symbol}: {exc}") from None
        return out

    async def _history(self, symbol: str) -> list[Bar]:
        """The last `history` closed klines, fetched newest page first."""
        pages: list[list[Bar]] = []
        got, end = 0, None
        while got < self.history:
            limit = min(MAX_LIMIT, self.history - got + (1 if end is None else 0))
            rows = await fetch_klines(self.rest_url, symbol.upper(), self.interval, None, end,
                                      limit, self.timing.rest_timeout)
            page, oldest = [], None
            for row in rows:
                kline = self._parse_row(row, symbol)
                if kline is None:
                    continue
                oldest = kline.bar.timestamp if oldest is None else oldest
                if kline.close_time < self._now_ms():  # else still open
                    page.append(kline.bar)
            pages.insert(0, page)
            got += len(page)
            if oldest is None or len(rows) < limit:
                break  # nothing older
            end = oldest - 1
        bars = [bar for page in pages for bar in page][-self.history:]
        return [bar for bar in bars if self._accept(bar, "rest")]

    async def _run(self) -> AsyncGenerator[Bar, None]:
        """Connect, deliver, reconnect — until every symbol has its `bars`."""
        left = dict.fromkeys(self.symbols, self.bars or 0)
        failures, connected = 0, False
        while True:
            self._progress, planned, reason = False, False, "the connection ended"
            try:
                async with connect(self.stream_url, open_timeout=self.timing.open_timeout) as ws:
                    connected = True
                    async with aclosing(self._session(ws)) as session:
                        async for bar in session:
                            if self.bars is not None:
                                if not left[bar.symbol]:
                                    continue
                                left[bar.symbol] -= 1
                            self.stats.bars += 1
                            yield bar
                            if self.bars is not None and not any(left.values()):
                                return
            except _Reconnect as exc:
                planned, reason = exc.planned, str(exc)
            except (OSError, TimeoutError, WebSocketException, RestFailure) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            failures = 0 if self._progress else failures + 1
            if not connected and failures >= self.max_failures:
                raise FeedError(
                    f"cannot stream klines from {self.stream_url} after {failures} attempts: "
                    f"{reason}"
                )
            delay = 0.0 if planned else self._backoff(max(failures, 1))
            self.stats.reconnects += 1
            log.warning("Binance feed reconnecting in %.2f s: %s", delay, reason)
            await asyncio.sleep(delay)

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        t = self.timing
        ceiling = min(t.backoff_max, t.backoff_initial * 2.0 ** min(failures - 1, 30))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _session(self, ws: ClientConnection) -> AsyncGenerator[Bar, None]:
        """One connection: backfill every symbol's gap, then read live messages."""
        opened = time.monotonic()
        for symbol in self.symbols:
            async for bar in self._backfill(symbol, None):
                yield bar
        while True:
            age_left = self.timing.max_connection_age - (time.monotonic() - opened)
            if age_left <= 0:
                raise _Reconnect("connection reached its age limit (Binance cuts at 24 h)", True)
            try:
                raw = await asyncio.wait_for(ws.recv(), min(self.timing.stale_after, age_left))
            except TimeoutError:
                if self.timing.stale_after < age_left:
                    raise _Reconnect(f"no message for {self.timing.stale_after} s", False) from None
                continue
            event = self._parse(raw)
            if event is None:
                continue
            self._progress = True
            if event.kind == "shutdown":
                raise _Reconnect("server sent serverShutdown", True)
            if event.bar is not None:
                async for bar in self._deliver(event.bar):
                    yield bar

    def _parse(self, raw: str | bytes) -> Event | None:
        """The message's event, or None after counting a malformed or invalid one."""
        try:
            return parse_message(raw, self._streams, self.interval)
        except Malformed as exc:
            self.stats.reject("malformed", f"ws {shorten(raw)}", str(exc))
        except MarketDataError as exc:
            self.stats.reject("invalid", f"ws {shorten(raw)}", str(exc))
        return None

    async def _deliver(self, bar: Bar) -> AsyncIterator[Bar]:
        """A live bar, preceded by a REST backfill of any hole before it."""
        last = self._guard.last_timestamp(bar.symbol)
        if last is not None and bar.timestamp > last + self.interval_ms:
            async for filled in self._backfill(bar.symbol, bar.timestamp - 1):
                yield filled
        if self._accept(bar, "ws"):
            yield bar

    async def _backfill(self, symbol: str, end_ms: int | None) -> AsyncIterator[Bar]:
        """Closed REST klines after the symbol's last bar (up to `end_ms`), page by page."""
        last = self._guard.last_timestamp(symbol)
        if last is None:
            return  # nothing delivered yet, so there is no gap to fill
        start = last + self.interval_ms
        while end_ms is None or start <= end_ms:
            rows = await fetch_klines(
                self.rest_url, symbol.upper(), self.interval, start, end_ms, MAX_LIMIT,
                self.timing.rest_timeout,
            )  # fmt: skip
            newest, still_open = None, False
            for row in rows:
                kline = self._parse_row(row, symbol)
                if kline is None:
                    continue
                if kline.close_time >= self._now_ms():
                    still_open = True  # the current kline: the stream will close it
                    break
                newest = kline.bar.timestamp
                if self._accept(kline.bar, "rest"):
                    self.stats.backfilled += 1
                    yield kline.bar
            if still_open or len(rows) < MAX_LIMIT or newest is None or newest < start:
                return
            start = newest + self.interval_ms

    def _parse_row(self, row: object, symbol: str) -> RestKline | None:
        try:
            return parse_rest_row(row, symbol)
        except Malformed as exc:
            self.stats.reject("malformed", f"rest {shorten(repr(row))}", str(exc), symbol)
        except MarketDataError as exc:
            self.stats.reject("invalid", f"rest {shorten(repr(row))}", str(exc), symbol)
        return None

    def _accept(self, bar: Bar, source: str) -> bool:
        """Apply the docs/design.md §2 sequence rule; count whatever is not accepted."""
        verdict = self._guard.check(bar)
        if verdict == "accept":
            return True
        reasons = {
            "duplicate": "identical duplicate",
            "conflict": "differs from the bar already delivered at this open time",
            "out_of_order": "older than the last delivered bar",
        }
        where = f"{source} {bar.symbol}@{bar.timestamp}"
        self.stats.reject(verdict, where, reasons[verdict], bar.symbol, bar.timestamp)
        return False


def _check_url(url: str, schemes: tuple[str, ...], flag: str) -> str:
    if not url.startswith(schemes) or len(url) <= len(url.split("//", 1)[0]) + 2:
        raise ConfigError(
            f"invalid {flag} {url!r}: expected a URL starting with {' or '.join(schemes)}"
        )
    return url
