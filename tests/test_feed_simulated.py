"""SimulatedFeed: determinism, independence, OHLCV consistency, statistics, bad input."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from engine.errors import ConfigError, FeedError
from engine.market.bar import Bar
from engine.market.feeds import SimulatedFeed
from engine.market.feeds.simulated import BLOCK, START_MS, YEAR_MS


def bars_of(feed: SimulatedFeed) -> list[Bar]:
    return list(feed.iter_bars())


def test_same_seed_same_bars_and_other_seed_other_bars() -> None:
    first = bars_of(SimulatedFeed(["BTCUSDT", "ETHUSDT"], seed=7, bars=300))
    again = bars_of(SimulatedFeed(["BTCUSDT", "ETHUSDT"], seed=7, bars=300))
    other = bars_of(SimulatedFeed(["BTCUSDT", "ETHUSDT"], seed=8, bars=300))
    assert first == again
    assert [b.close for b in first] != [b.close for b in other]


def test_a_symbol_does_not_depend_on_the_other_symbols_or_on_the_bar_limit() -> None:
    alone = bars_of(SimulatedFeed(["AAA"], seed=3, bars=BLOCK + 10))
    mixed = bars_of(SimulatedFeed(["ZZZ", "AAA", "MMM"], seed=3, bars=BLOCK + 200))
    assert [b for b in mixed if b.symbol == "AAA"][: BLOCK + 10] == alone


def test_the_walk_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = (
        "from engine.market.feeds import SimulatedFeed;"
        "print(repr(list(SimulatedFeed(['XYZUSDT'], seed=5, bars=3).iter_bars())[-1].close))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    here = bars_of(SimulatedFeed(["XYZUSDT"], seed=5, bars=3))[-1].close
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == here


def test_bars_interleave_by_timestamp_in_symbol_order() -> None:
    bars = bars_of(SimulatedFeed(["B", "A"], bars=3, interval_ms=300_000, start_ms=1_000_000))
    assert [(b.symbol, b.timestamp) for b in bars] == [
        ("B", 1_000_000), ("A", 1_000_000),
        ("B", 1_300_000), ("A", 1_300_000),
        ("B", 1_600_000), ("A", 1_600_000),
    ]  # fmt: skip


def test_ohlcv_is_consistent_and_gapless_across_blocks() -> None:
    feed = SimulatedFeed(["BTCUSDT"], seed=11, bars=2 * BLOCK + 5)
    bars = bars_of(feed)
    assert len(bars) == feed.total == 2 * BLOCK + 5
    for prev, bar in itertools.pairwise(bars):
        assert bar.open == prev.close
        assert bar.timestamp == prev.timestamp + 60_000
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume >= 0


def test_start_price_and_volatility_follow_the_parameters() -> None:
    feed = SimulatedFeed(["X"], seed=1, bars=20_000, start_price=250.0, volatility=0.5)
    bars = bars_of(feed)
    assert bars[0].open == 250.0
    assert bars[0].timestamp == START_MS
    closes = np.array([b.close for b in bars])
    returns = np.diff(np.log(np.concatenate(([250.0], closes))))
    expected = 0.5 * math.sqrt(60_000 / YEAR_MS)  # annualised vol scaled to one minute
    assert abs(returns.std() - expected) / expected < 0.03


def test_async_iteration_yields_the_same_bars_and_counts_them() -> None:
    async def collect(feed: SimulatedFeed) -> list[Bar]:
        return [bar async for bar in feed]

    feed = SimulatedFeed(["A", "B"], bars=BLOCK + 1)
    got = asyncio.run(collect(feed))
    assert got == bars_of(SimulatedFeed(["A", "B"], bars=BLOCK + 1))
    assert feed.stats.bars == 2 * (BLOCK + 1)
    assert feed.stats.rejected_bars == 0


def test_an_endless_feed_has_no_total() -> None:
    feed = SimulatedFeed(["A"])
    assert feed.total is None
    first = [bar for _, bar in zip(range(5), feed.iter_bars(), strict=False)]
    assert len(first) == 5


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"symbols": []}, "no symbols"),
        ({"symbols": ["A", "A"]}, "listed twice: A"),
        ({"symbols": ["A,B"]}, "invalid symbol 'A,B'"),
        ({"symbols": ["A"], "bars": 0}, "invalid bar limit 0"),
        ({"symbols": ["A"], "interval_ms": 0}, "invalid interval_ms 0"),
        ({"symbols": ["A"], "start_price": -1.0}, "invalid start price -1.0 for A"),
        ({"symbols": ["A"], "volatility": math.nan}, "invalid volatility nan"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        SimulatedFeed(**kwargs)  # type: ignore[arg-type]


def test_a_feed_is_iterated_once() -> None:
    feed = SimulatedFeed(["A"], bars=2)
    bars_of(feed)
    with pytest.raises(FeedError, match="already iterated"):
        bars_of(feed)
