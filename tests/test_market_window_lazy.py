"""MarketDataWindow writes pushed bars into its arrays lazily (at the first query).

Checked against a plain model — a Python list of the last ``capacity`` bars —
under random interleavings of pushes and queries, including long runs of
pushes with no query (the pending list is trimmed) and queries after every bar.
"""

from __future__ import annotations

import random

import pytest
from factories import make_bar

from engine.market.bar import Bar
from engine.market.window import MarketDataWindow


def random_bar(i: int, rng: random.Random) -> Bar:
    low = rng.uniform(1.0, 2.0)
    return make_bar(i, low + 0.5, open=low + 0.25, high=low + 1.0, low=low,
                    volume=rng.uniform(0.0, 9.0), symbol="X")


def check(window: MarketDataWindow, model: list[Bar], n: int) -> None:
    kept = model[-window.capacity :]
    assert len(window) == len(kept)
    last = kept[-n:]
    assert window.closes(n).tolist() == [b.close for b in last]
    assert window.opens(n).tolist() == [b.open for b in last]
    assert window.timestamps(n).tolist() == [b.timestamp for b in last]
    arrays = window.arrays()
    assert arrays["high"].tolist() == [b.high for b in kept]
    assert arrays["volume"].tolist() == [b.volume for b in kept]
    assert window.low(len(kept)) == min(b.low for b in kept)
    assert window.latest() == kept[-1]


@pytest.mark.parametrize("seed", range(12))
def test_random_pushes_and_queries_match_a_list_model(seed: int) -> None:
    rng = random.Random(seed)
    capacity = rng.choice([1, 2, 3, 7, 20])
    window, model = MarketDataWindow(capacity), []
    for i in range(rng.randint(1, 300)):
        model.append(random_bar(i, rng))
        assert window.push(model[-1]) is True
        if rng.random() < rng.choice([0.02, 0.3, 1.0]):
            check(window, model, rng.randint(1, capacity))
    check(window, model, capacity)


def test_a_long_run_without_queries_keeps_the_newest_bars() -> None:
    rng = random.Random(1)
    window, model = MarketDataWindow(5), [random_bar(i, rng) for i in range(1234)]
    for b in model:
        window.push(b)
    assert len(window) == 5
    check(window, model, 5)
    assert window.push(model[-1]) is False  # the latest, repeated: an identical duplicate
