"""MarketDataWindow and MarketDataStorage (docs/design.md §2)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from factories import make_bar
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import MarketDataError
from engine.market import MarketDataStorage, MarketDataWindow


def test_empty_window() -> None:
    w = MarketDataWindow(5)
    assert len(w) == 0
    assert w.latest() is None
    assert w.closes(3).size == 0
    assert w.high(1) is None
    assert w.low(1) is None
    assert all(a.size == 0 for a in w.arrays().values())


def test_default_capacity_is_1000() -> None:
    assert MarketDataWindow().capacity == 1000


def test_queries_oldest_to_newest() -> None:
    w = MarketDataWindow(10)
    for i in range(1, 5):
        assert w.push(make_bar(i, 10.0 * i, volume=float(i)))
    assert len(w) == 4
    assert w.closes(2).tolist() == [30.0, 40.0]
    assert w.closes(10).tolist() == [10.0, 20.0, 30.0, 40.0]  # fewer retained than n
    assert w.closes().tolist() == [10.0, 20.0, 30.0, 40.0]
    assert w.opens(1).tolist() == [40.0]
    assert w.highs(2).tolist() == [31.0, 41.0]
    assert w.lows(2).tolist() == [29.5, 39.5]
    assert w.volumes(3).tolist() == [2.0, 3.0, 4.0]
    assert w.timestamps(2).tolist() == [180_000, 240_000]
    assert w.timestamps().dtype == np.int64
    assert w.high(3) == 41.0
    assert w.low(3) == 19.5
    assert w.high(5) is None  # only 4 bars: the 5-bar extreme is not defined yet
    latest = w.latest()
    assert latest is not None and latest.close == 40.0


def test_ring_drops_oldest_beyond_capacity() -> None:
    w = MarketDataWindow(3)
    for i in range(10):
        w.push(make_bar(i, float(i + 1)))
    assert len(w) == 3
    assert w.closes(3).tolist() == [8.0, 9.0, 10.0]
    assert w.high(3) == 11.0
    assert w.low(3) == 7.5
    arrays = w.arrays()
    assert sorted(arrays) == ["close", "high", "low", "volume"]
    assert arrays["close"].tolist() == [8.0, 9.0, 10.0]
    assert arrays["high"].tolist() == [9.0, 10.0, 11.0]


def test_returned_arrays_are_copies() -> None:
    w = MarketDataWindow(3)
    w.push(make_bar(1, 5.0))
    w.closes(1)[0] = 99.0
    w.arrays()["close"][0] = 99.0
    assert w.closes(1).tolist() == [5.0]


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 7),
    closes=st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=0, max_size=40),
    n=st.integers(1, 7),
)
def test_matches_a_plain_list_model(capacity: int, closes: list[float], n: int) -> None:
    w = MarketDataWindow(capacity)
    for i, c in enumerate(closes):
        w.push(make_bar(i, c))
    kept = closes[-capacity:]
    assert len(w) == len(kept)
    assert w.closes().tolist() == kept
    if n <= capacity:
        assert w.closes(n).tolist() == kept[-n:]
        expected_high = max(c + 1.0 for c in kept[-n:]) if len(kept) >= n else None
        assert w.high(n) == expected_high
    assert w.timestamps().tolist() == [60_000 * i for i in range(len(closes))][-capacity:]


def test_identical_duplicate_is_dropped() -> None:
    w = MarketDataWindow(5)
    assert w.push(make_bar(1, 10.0))
    assert w.push(make_bar(1, 10.0)) is False
    assert len(w) == 1


def test_different_bar_at_same_timestamp_is_rejected() -> None:
    w = MarketDataWindow(5)
    w.push(make_bar(1, 10.0))
    with pytest.raises(MarketDataError, match=r"'timestamp' = 60000") as info:
        w.push(make_bar(1, 10.0, volume=2.0))
    assert "BTCUSDT" in str(info.value)
    assert w.closes().tolist() == [10.0]
    assert w.volumes().tolist() == [1.0]


def test_older_bar_is_rejected() -> None:
    w = MarketDataWindow(5)
    w.push(make_bar(2, 10.0))
    with pytest.raises(MarketDataError, match=r"'timestamp' = 60000 is older"):
        w.push(make_bar(1, 11.0))
    assert len(w) == 1


def test_bar_of_another_symbol_is_rejected() -> None:
    w = MarketDataWindow(5)
    w.push(make_bar(1, 10.0))
    with pytest.raises(MarketDataError, match=r"'symbol' = 'ETHUSDT'"):
        w.push(make_bar(2, 10.0, symbol="ETHUSDT"))
    assert len(w) == 1


@pytest.mark.parametrize("capacity", [0, -3, 2.0, None])
def test_bad_capacity(capacity: object) -> None:
    with pytest.raises(MarketDataError, match="capacity"):
        MarketDataWindow(capacity)


@pytest.mark.parametrize("n", [0, -1, 6, 2.5, True])
def test_bad_query_length(n: object) -> None:
    w = MarketDataWindow(5)
    w.push(make_bar(1, 1.0))
    for query in (w.closes, w.highs, w.lows, w.volumes, w.opens, w.timestamps, w.high, w.low):
        with pytest.raises(MarketDataError, match=r"field 'n'"):
            query(n)


def test_storage_routes_by_symbol() -> None:
    s = MarketDataStorage(capacity=4)
    assert s.push(make_bar(1, 10.0, symbol="A"))
    assert s.push(make_bar(1, 20.0, symbol="B"))
    assert s.push(make_bar(1, 20.0, symbol="B")) is False
    assert s.symbols() == ["A", "B"]
    assert "A" in s and "C" not in s
    assert len(s) == 2
    assert s.closes("B") == [20.0]
    assert s.closes("C") == []
    assert s.latest("C") is None
    assert s.window("A").capacity == 4
    assert s.arrays("A")["close"].tolist() == [10.0]
    assert list(s) == ["A", "B"]


def test_storage_concurrent_pushes_lose_nothing() -> None:
    s = MarketDataStorage(capacity=1000)
    symbols = ["S0", "S1", "S2", "S3"]

    def feed(symbol: str) -> None:
        for i in range(300):
            s.push(make_bar(i, 1.0 + i, symbol=symbol))

    threads = [threading.Thread(target=feed, args=(sym,)) for sym in symbols]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sym in symbols:
        assert s.closes(sym) == [1.0 + i for i in range(300)]
