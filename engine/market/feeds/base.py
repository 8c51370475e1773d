"""What every feed offers: the `Feed` protocol and shared argument checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Protocol, runtime_checkable

from engine.errors import ConfigError
from engine.market.bar import Bar
from engine.market.feeds.stats import FeedStats


@runtime_checkable
class Feed(Protocol):
    """An async iterator of closed, validated bars (`async for bar in feed`).

    `stats` counts what was accepted and rejected; `total` is the expected number
    of bars for a finite feed (for a progress bar), None for a live or endless one.
    A feed is iterated once; `aclose()` releases its resources early.
    """

    stats: FeedStats

    @property
    def total(self) -> int | None: ...

    def __aiter__(self) -> AsyncIterator[Bar]: ...

    async def aclose(self) -> None: ...


def check_symbols(symbols: Iterable[str]) -> tuple[str, ...]:
    """Strip and check a symbol list: non-empty names, at least one, no repeats."""
    if isinstance(symbols, str):
        symbols = [symbols]
    out = tuple(s.strip() for s in symbols)
    if not out:
        raise ConfigError("no symbols given: expected at least one, e.g. BTCUSDT")
    for name in out:
        if not name or any(ch.isspace() or ch in ",/" for ch in name):
            raise ConfigError(f"invalid symbol {name!r}: expected a name such as BTCUSDT")
    repeated = sorted({s for s in out if out.count(s) > 1})
    if repeated:
        raise ConfigError(f"symbol(s) listed twice: {', '.join(repeated)}")
    return out


def check_bars(bars: int | None) -> int | None:
    """Validate a per-symbol bar limit (None = no limit)."""
    if bars is not None and (isinstance(bars, bool) or bars < 1):
        raise ConfigError(f"invalid bar limit {bars!r}: expected a positive whole number")
    return bars
