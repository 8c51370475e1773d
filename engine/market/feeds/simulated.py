"""A seeded, deterministic random-walk feed of 1-minute-like bars.

Each symbol follows its own geometric random walk, drawn from a generator seeded
with (seed, stable hash of the symbol) — so a symbol's bars depend only on the
seed and its name, not on which other symbols are simulated or on `bars`.
Bars are generated in numpy blocks and interleaved by timestamp (at each
timestamp, symbols in the order given).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.typing import NDArray

from engine.errors import ConfigError, FeedError
from engine.market.bar import Bar
from engine.market.feeds.base import check_bars, check_symbols
from engine.market.feeds.stats import FeedStats

BLOCK: Final = 4096  # bars per symbol generated at once; fixed so output never depends on it
DEFAULT_SEED: Final = 42
START_MS: Final = 1_704_067_200_000  # 2024-01-01T00:00:00Z
YEAR_MS: Final = 365 * 86_400_000
KNOWN_PRICES: Final = MappingProxyType(
    {"BTCUSDT": 42_000.0, "ETHUSDT": 2_300.0, "SOLUSDT": 100.0, "BNBUSDT": 310.0}
)


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that is the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def default_start_price(symbol: str) -> float:
    """A plausible start price: a known one for major pairs, else 10…1000 from the name."""
    known = KNOWN_PRICES.get(symbol.upper())
    if known is not None:
        return known
    return float(10.0 ** (1.0 + 2.0 * (stable_hash("price:" + symbol) % 10_000) / 10_000))


Columns = tuple[list[float], list[float], list[float], list[float], list[float]]


class _Walk:
    """The state of one symbol's random walk; `block()` draws the next BLOCK bars."""

    def __init__(self, symbol: str, seed: int, price: float, sigma: float, volume: float):
        entropy = [seed % 2**64, stable_hash(symbol)]
        self.rng = np.random.default_rng(np.random.SeedSequence(entropy))
        self.symbol = symbol
        self.log_price = math.log(price)
        self.last_close = price
        self.sigma = sigma
        self.volume = volume

    def block(self) -> Columns:
        """Open, high, low, close, volume lists of the next BLOCK bars."""
        z: NDArray[np.float64] = self.rng.standard_normal((4, BLOCK))
        log_close = self.log_price + np.cumsum(self.sigma * z[0] - 0.5 * self.sigma**2)
        close = np.exp(log_close)
        open_ = np.empty(BLOCK)
        open_[0] = self.last_close  # each bar opens exactly at the previous close
        open_[1:] = close[:-1]
        self.log_price, self.last_close = float(log_close[-1]), float(close[-1])
        # Wicks stretch the body by a factor >= 1, so low <= min(open, close) <= max <= high.
        high = np.maximum(open_, close) * np.exp(0.6 * self.sigma * np.abs(z[1]))
        low = np.minimum(open_, close) * np.exp(-0.6 * self.sigma * np.abs(z[2]))
        volume = self.volume * np.exp(0.5 * z[3]) * (0.5 + 0.5 * np.abs(z[0]))
        return open_.tolist(), high.tolist(), low.tolist(), close.tolist(), volume.tolist()


class SimulatedFeed:
    """Seeded geometric random walks for several symbols, interleaved by timestamp.

    `bars` limits the bars per symbol (None = endless). `volatility` is annualised
    (0.6 ≈ a major crypto pair) and scaled to the interval. `start_price` is one
    price for every symbol or a mapping symbol → price (others get a default).
    """

    def __init__(
        self,
        symbols: Iterable[str],
        seed: int = DEFAULT_SEED,
        bars: int | None = None,
        interval_ms: int = 60_000,
        start_price: float | Mapping[str, float] | None = None,
        start_ms: int = START_MS,
        volatility: float = 0.6,
    ) -> None:
        self.symbols = check_symbols(symbols)
        self.seed = seed
        self.bars = check_bars(bars)
        if interval_ms <= 0:
            raise ConfigError(f"invalid interval_ms {interval_ms}: expected > 0")
        if not (math.isfinite(volatility) and volatility > 0):
            raise ConfigError(f"invalid volatility {volatility!r}: expected a finite number > 0")
        self.interval_ms = interval_ms
        self.start_ms = start_ms
        self.sigma = volatility * math.sqrt(interval_ms / YEAR_MS)
        self.prices = {s: self._price(s, start_price) for s in self.symbols}
        self.stats = FeedStats()
        self._started = False

    @staticmethod
    def _price(symbol: str, start_price: float | Mapping[str, float] | None) -> float:
        if start_price is None:
            price = default_start_price(symbol)
        elif isinstance(start_price, Mapping):
            price = start_price.get(symbol, default_start_price(symbol))
        else:
            price = start_price
        if not (math.isfinite(price) and price > 0):
            raise ConfigError(f"invalid start price {price!r} for {symbol}: expected > 0")
        return float(price)

    @property
    def total(self) -> int | None:
        """Bars this feed will yield (all symbols), None when endless."""
        return None if self.bars is None else self.bars * len(self.symbols)

    def iter_bars(self) -> Iterator[Bar]:
        """The bars as a plain (synchronous) iterator — the fast path for backtests."""
        if self._started:
            raise FeedError("the simulated feed was already iterated; create a new one")
        self._started = True
        walks = [_Walk(s, self.seed, self.prices[s], self.sigma, 1_000.0) for s in self.symbols]
        produced, ts, step = 0, self.start_ms, self.interval_ms
        while self.bars is None or produced < self.bars:
            n = BLOCK if self.bars is None else min(BLOCK, self.bars - produced)
            columns = [(w.symbol, w.block()) for w in walks]
            for i in range(n):
                for sym, (o, h, lo, c, v) in columns:
                    self.stats.bars += 1
                    yield Bar(sym, ts, o[i], h[i], lo[i], c[i], v[i])
                ts += step
            produced += n

    async def _aiter(self) -> AsyncIterator[Bar]:
        import asyncio  # only for async iteration: a backtest runs without an event loop

        for count, bar in enumerate(self.iter_bars(), 1):
            yield bar
            if count % BLOCK == 0:
                await asyncio.sleep(0)  # let other tasks (signals, journal) run

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self._aiter()

    async def aclose(self) -> None:
        """Nothing to release; present for the Feed protocol."""
